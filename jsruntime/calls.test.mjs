// Unit tests of the runtime's call side (options, batches, DWR callbacks,
// uploads, reply classification), with a scripted fetch: node --test
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "./engine.js";

// server answers POST call with handler(envelope, init), recording each
// request; a multipart body's envelope is read from its "envelope" part.
function server(handler) {
  const requests = [];
  const fetch = async (url, init) => {
    const multipart = init.body instanceof FormData;
    const body = multipart ? JSON.parse(init.body.get("envelope")) : JSON.parse(init.body);
    const req = { path: new URL(url).pathname, body, init, aborted: false };
    init.signal?.addEventListener("abort", () => { req.aborted = true; });
    requests.push(req);
    const out = await handler(body, init);
    if (out instanceof Response) return out;
    return new Response(JSON.stringify(out), { status: 200, headers: { "Content-Type": "application/json" } });
  };
  return { fetch, requests };
}

const echo = (b) => ({ results: b.calls.map((c) => ({ id: c.id, result: c.args })) });
const client = (fetch) => createClient({ base: "http://test/parley/", fetch, page: () => "/" });
const tick = () => new Promise((r) => setTimeout(r, 0));

test("configure sets a default timeout and headers that calls override", async () => {
  const srv = server(echo);
  const p = client(srv.fetch);
  p.configure({ timeout: 5000, headers: { "X-Tenant": "t1" } });
  await p.call("S", "a", [1]);
  await p.call("S", "b", [2], { timeout: 20, headers: { "X-Tenant": "t2", "X-More": "m" } });
  assert.equal(srv.requests[0].body.calls[0].timeout, 5000, "the timeout travels so the server sets a deadline");
  assert.equal(srv.requests[0].init.headers["X-Tenant"], "t1");
  assert.equal(srv.requests[1].body.calls[0].timeout, 20);
  assert.equal(srv.requests[1].init.headers["X-Tenant"], "t2");
  assert.equal(srv.requests[1].init.headers["X-More"], "m");
  p.configure({ timeout: 0, headers: null });
  await p.call("S", "c");
  assert.equal(srv.requests[2].body.calls[0].timeout, undefined);
  assert.equal(srv.requests[2].init.headers["X-Tenant"], undefined);
  assert.throws(() => p.configure({ timeout: -1 }), TypeError);
});

test("a call with a signal travels alone and aborting it aborts its request", async () => {
  let release;
  const srv = server((b) => (b.calls[0].method === "slow" ? new Promise((r) => { release = () => r(echo(b)); }) : echo(b)));
  const p = client(srv.fetch);
  const ac = new AbortController();
  const slow = p.call("S", "slow", [], { signal: ac.signal }).catch((e) => e.code);
  const other = p.call("S", "quick", [1]);
  assert.deepEqual(await other, [1]);
  await tick();
  assert.equal(srv.requests.length, 2, "the signalled call has a request of its own");
  const slowReq = srv.requests.find((r) => r.body.calls[0].method === "slow");
  assert.equal(slowReq.body.calls.length, 1);
  assert.equal(slowReq.aborted, false);
  ac.abort();
  assert.equal(await slow, "canceled");
  assert.equal(slowReq.aborted, true, "the fetch is aborted, so the server sees the connection close");
  release();
});

test("a timed-out batch is aborted once every call in it has given up", async () => {
  const held = [];
  const srv = server((b) => new Promise((r) => held.push(() => r(echo(b)))));
  const p = client(srv.fetch);
  const a = p.call("S", "a", [], { timeout: 10 }).catch((e) => e.code);
  const b = p.call("S", "b", [], { timeout: 30 }).catch((e) => e.code);
  assert.equal(await a, "deadline_exceeded");
  assert.equal(srv.requests.length, 1);
  assert.equal(srv.requests[0].aborted, false, "one call still waits");
  assert.equal(await b, "deadline_exceeded");
  assert.equal(srv.requests[0].aborted, true);
  held.forEach((f) => f());
});

test("batch sends the calls made inside it in one request and returns fn's result", async () => {
  const srv = server(echo);
  const p = client(srv.fetch);
  const out = p.batch(() => [p.call("S", "a", [1]), p.call("S", "b", [2], { signal: new AbortController().signal })]);
  assert.ok(Array.isArray(out));
  assert.deepEqual(await Promise.all(out), [[1], [2]]);
  assert.equal(srv.requests.length, 1);
  assert.deepEqual(srv.requests[0].body.calls.map((c) => c.method), ["a", "b"]);
  assert.equal(srv.requests[0].body.ordered, undefined, "concurrent by default");

  const promised = await p.batch(async () => {
    const x = p.call("S", "x", [3]);
    const y = p.call("S", "y", [4]);
    return (await x)[0] + (await y)[0];
  }, { ordered: true, headers: { "X-Tx": "1" } });
  assert.equal(promised, 7);
  assert.equal(srv.requests.length, 2);
  assert.equal(srv.requests[1].body.ordered, true);
  assert.deepEqual(srv.requests[1].body.calls.map((c) => c.method), ["x", "y"]);
  assert.equal(srv.requests[1].init.headers["X-Tx"], "1");

  assert.equal(p.batch(() => 5), 5, "a batch without calls sends nothing");
  assert.equal(srv.requests.length, 2);
  assert.throws(() => p.batch(), TypeError);
  assert.throws(() => p.batch(() => { throw new Error("fn failed"); }), /fn failed/);
});

test("DWR style: callback and errorHandler instead of the Promise", async () => {
  const srv = server((b) => ({
    results: b.calls.map((c) => (c.method === "bad"
      ? { id: c.id, error: { code: "invalid_argument", message: "no good" } }
      : { id: c.id, result: "fine" })),
  }));
  const p = client(srv.fetch);
  const seen = [];
  await Promise.all([
    p.call("S", "ok", [], { callback: (v) => seen.push(["callback", v]) }),
    p.call("S", "bad", [], { callback: () => seen.push(["wrong"]), errorHandler: (msg, err) => seen.push(["errorHandler", msg, err.code]) }),
  ]);
  assert.deepEqual(seen, [["callback", "fine"], ["errorHandler", "no good", "invalid_argument"]]);
});

test("Blob arguments send the batch as multipart with placeholders", async () => {
  const srv = server(echo);
  const p = client(srv.fetch);
  const file = new File(["hello"], "hello.txt", { type: "text/plain" });
  const [a, b] = await Promise.all([p.call("S", "up", [file, "note", new Blob(["xy"])]), p.call("S", "plain", [1])]);
  assert.deepEqual(a, [{ $upload: "f0" }, "note", { $upload: "f1" }]);
  assert.deepEqual(b, [1]);
  const { init } = srv.requests[0];
  assert.ok(init.body instanceof FormData);
  assert.equal(init.headers["Content-Type"], undefined, "fetch sets the multipart boundary itself");
  assert.equal(init.headers["X-Parley"], "1", "multipart requests carry the CSRF header too");
  assert.equal(init.body.get("f0").name, "hello.txt");
  assert.equal(await init.body.get("f0").text(), "hello");
  assert.equal(await init.body.get("f1").text(), "xy");
});

test("replies that are not Parley JSON get distinct codes", async () => {
  const html = (status, redirected = false) => () => {
    const res = new Response("<html>sign in</html>", { status, headers: { "Content-Type": "text/html" } });
    Object.defineProperty(res, "redirected", { value: redirected });
    return res;
  };
  const code = async (h) => (await client(server(h).fetch).call("S", "m").catch((e) => e)).code;
  assert.equal(await code(html(200, true)), "unauthenticated", "a redirect to a login page");
  assert.equal(await code(html(401)), "unauthenticated", "a 401 that is not Parley JSON");
  assert.equal(await code(html(502)), "unavailable");
  assert.equal(await code(html(503)), "unavailable");
  assert.equal(await code(html(504)), "unavailable");
  assert.equal(await code(html(200)), "unavailable", "HTML without a redirect is not a login page");
  assert.equal(await code(() => new Response("{broken", { status: 200, headers: { "Content-Type": "application/json" } })), "unavailable");
  assert.equal(await code(() => { throw new TypeError("Failed to fetch"); }), "unavailable");
  assert.equal(await code(() => new Response(JSON.stringify({ error: { code: "unauthenticated", message: "who?" } }),
    { status: 401, headers: { "Content-Type": "application/json" } })), "unauthenticated", "Parley's own 401 keeps its code");
});
