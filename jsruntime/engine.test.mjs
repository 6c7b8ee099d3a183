// Unit tests of the runtime's logic, with a scripted fetch: node --test
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient, ParleyError } from "./engine.js";

// fakeServer answers each endpoint with a handler and records requests.
function fakeServer(handlers) {
  const requests = [];
  const fetch = async (url, init) => {
    const path = new URL(url).pathname.replace("/parley/", "");
    const body = JSON.parse(init.body);
    requests.push({ path, body, headers: init.headers });
    const h = handlers[path];
    if (!h) throw new TypeError("Failed to fetch");
    const out = await h(body, init);
    if (out instanceof Response) return out;
    return new Response(JSON.stringify(out), { status: 200, headers: { "Content-Type": "application/json" } });
  };
  return { fetch, requests };
}

const client = (fetch, extra = {}) => createClient({ base: "http://test/parley/", fetch, page: () => "/chat", ...extra });

test("calls made in one tick go in one request, matched by id", async () => {
  const srv = fakeServer({
    call: (b) => ({ results: b.calls.map((c) => ({ id: c.id, result: c.args[0] * 10 })).reverse() }),
  });
  const p = client(srv.fetch);
  const [a, b] = await Promise.all([p.call("S", "m", [1]), p.call("S", "m", [2])]);
  assert.equal(a, 10);
  assert.equal(b, 20);
  assert.equal(srv.requests.length, 1);
  assert.deepEqual(srv.requests[0].body.calls.map((c) => c.args[0]), [1, 2]);
  assert.equal(srv.requests[0].headers["X-Parley"], "1");
  assert.equal(srv.requests[0].headers["Content-Type"], "application/json");
  await p.call("S", "m", [3]);
  assert.equal(srv.requests.length, 2, "a later tick sends a new request");
});

test("errors reject with a ParleyError carrying code, message and details", async () => {
  const srv = fakeServer({
    call: (b) => ({ results: [{ id: b.calls[0].id, error: { code: "invalid_argument", message: "empty", details: { f: 1 } } }] }),
  });
  const err = await client(srv.fetch).call("S", "m", []).catch((e) => e);
  assert.ok(err instanceof ParleyError);
  assert.equal(err.code, "invalid_argument");
  assert.equal(err.message, "empty");
  assert.deepEqual(err.details, { f: 1 });
});

test("a whole-request error rejects every call of the batch", async () => {
  const srv = fakeServer({
    call: () => new Response(JSON.stringify({ error: { code: "permission_denied", message: "no" } }), {
      status: 403, headers: { "Content-Type": "application/json" },
    }),
  });
  const p = client(srv.fetch);
  const errs = await Promise.all([p.call("S", "a"), p.call("S", "b")].map((x) => x.catch((e) => e.code)));
  assert.deepEqual(errs, ["permission_denied", "permission_denied"]);
});

test("replies that are not Parley JSON, and network failures, are unavailable", async () => {
  const html = fakeServer({ call: () => new Response("<html>502</html>", { status: 502, headers: { "Content-Type": "text/html" } }) });
  assert.equal((await client(html.fetch).call("S", "m").catch((e) => e)).code, "unavailable");
  const down = fakeServer({});
  assert.equal((await client(down.fetch).call("S", "m").catch((e) => e)).code, "unavailable");
});

test("piggybacked messages run once, in order, and are acknowledged", async () => {
  const ran = [];
  let replies = [
    { messages: [{ seq: 1, fn: "ChatPage.add", args: ["a"] }, { seq: 2, fn: "ChatPage.add", args: ["b"] }] },
    { messages: [{ seq: 2, fn: "ChatPage.add", args: ["b"] }, { seq: 3, fn: "log", args: ["c", 1] }] },
  ];
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    call: (b) => ({ results: b.calls.map((c) => ({ id: c.id, result: null })), ...replies.shift() }),
  });
  const p = client(srv.fetch);
  p.expose("ChatPage", { add(x) { ran.push(x); } });
  p.expose("log", (...args) => ran.push(args.join("+")));
  await p.start({ transport: "passive" });
  await p.call("S", "m");
  await p.call("S", "m");
  assert.deepEqual(ran, ["a", "b", "c+1"]);
  const calls = srv.requests.filter((r) => r.path === "call");
  assert.equal(calls[0].body.session, "s1");
  assert.equal(calls[0].body.ack, 0);
  assert.equal(calls[1].body.ack, 2, "the second request acknowledges what ran");
  assert.equal(srv.requests[0].body.page, "/chat");
});

test("only exposed functions run; prototype names are not reachable", async () => {
  const errors = [];
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    call: (b) => ({
      results: b.calls.map((c) => ({ id: c.id, result: null })),
      messages: [
        { seq: 1, fn: "nothing", args: [] },
        { seq: 2, fn: "Obj.constructor", args: [] },
        { seq: 3, fn: "Obj.__proto__", args: [] },
        { seq: 4, fn: "Obj.ok", args: [] },
        { seq: 5, fn: "Obj.throws", args: [] },
        { seq: 6, fn: "Obj.ok", args: [] },
      ],
    }),
  });
  const p = client(srv.fetch);
  let ok = 0;
  p.expose("Obj", { ok() { ok++; }, throws() { throw new Error("page bug"); } });
  p.on("error", (e) => errors.push(e.message));
  const warn = console.warn, error = console.error;
  console.warn = console.error = () => {};
  try {
    await p.start({ transport: "passive" });
    await p.call("S", "m");
  } finally {
    console.warn = warn;
    console.error = error;
  }
  assert.equal(ok, 2, "a throwing function does not stop the ones after it");
  assert.equal(errors.length, 4);
  assert.throws(() => p.expose("", {}), TypeError);
  assert.throws(() => p.expose("x", 3), TypeError);
});

test("a reset raises a gap and opens a fresh session after a pause", async () => {
  let n = 0;
  const gaps = [];
  const srv = fakeServer({
    session: () => ({ session: `s${++n}` }),
    call: (b) => ({ results: b.calls.map((c) => ({ id: c.id, result: null })), reset: b.session === "s1" ? { reason: "overflow" } : undefined }),
  });
  const p = client(srv.fetch, { random: () => 0 });
  p.on("gap", (g) => gaps.push(g.reason));
  await p.start({ transport: "passive" });
  assert.equal(p.session, "s1");
  await p.call("S", "m");
  assert.deepEqual(gaps, ["overflow"]);
  assert.equal(p.session, "", "not reopened at once");
  await until(() => p.session === "s2");
});

test("long-poll delivers, acknowledges, reconnects after failures, and stops", async () => {
  const ran = [];
  const states = [];
  let polls = 0;
  let release;
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    poll: (b, init) => {
      polls++;
      if (polls === 1) return { messages: [{ seq: 1, fn: "f", args: [1] }] };
      if (polls === 2) throw new TypeError("Failed to fetch"); // a dropped connection
      if (polls === 3) return { messages: [{ seq: 1, fn: "f", args: [1] }, { seq: 2, fn: "f", args: [2] }] };
      return new Promise((resolve, reject) => {
        release = resolve;
        init.signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
      });
    },
  });
  const p = client(srv.fetch, { random: () => 0 });
  p.on("state", (s) => states.push(s));
  p.expose("f", (x) => ran.push(x));
  await p.start({ transport: "longpoll" });
  while (polls < 4) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(ran, [1, 2]);
  const acks = srv.requests.filter((r) => r.path === "poll").map((r) => r.body.ack);
  assert.deepEqual(acks, [0, 1, 1, 2]);
  assert.ok(states.includes("reconnecting"));
  assert.equal(p.state, "connected");
  p.stop();
  assert.equal(p.state, "idle");
  assert.equal(typeof release, "function");
});

test("start refuses an unknown transport", async () => {
  const p = client(fakeServer({}).fetch);
  await assert.rejects(p.start({ transport: "carrier-pigeon" }), (e) => e.code === "invalid_argument");
});

test("options: timeout, signal and headers", async () => {
  let hold;
  const srv = fakeServer({
    call: (b) => new Promise((resolve) => {
      hold = () => resolve({ results: b.calls.map((c) => ({ id: c.id, result: "late" })) });
    }),
  });
  const p = client(srv.fetch);
  const timedOut = p.call("S", "slow", [], { timeout: 10 }).catch((e) => e.code);
  assert.equal(await timedOut, "deadline_exceeded");
  hold();

  const ac = new AbortController();
  const canceled = p.call("S", "slow", [], { signal: ac.signal }).catch((e) => e.code);
  await new Promise((r) => setTimeout(r, 0));
  ac.abort();
  assert.equal(await canceled, "canceled");
  hold();
  assert.equal(await p.call("S", "x", [], { signal: ac.signal }).catch((e) => e.code), "canceled", "an aborted signal fails at once");

  const plain = p.call("S", "a");
  const withHeader = p.call("S", "b", [], { headers: { "X-Tenant": "t1" } });
  await new Promise((r) => setTimeout(r, 0));
  hold();
  const last = srv.requests.slice(-2);
  assert.deepEqual(last.map((r) => r.body.calls.map((c) => c.method)), [["a"], ["b"]], "different headers, different requests");
  assert.equal(last[1].headers["X-Tenant"], "t1");
  assert.equal(last[1].headers["X-Parley"], "1", "a caller's headers cannot drop Parley's");
  assert.equal(await withHeader.catch(() => "rejected"), "late");
  void plain;
});

// sseResponse returns an event-stream Response whose body is fed by push().
function sseResponse() {
  let ctl;
  const body = new ReadableStream({ start(c) { ctl = c; } });
  const enc = new TextEncoder();
  return {
    res: new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    push: (text) => ctl.enqueue(enc.encode(text)),
    close: () => ctl.close(),
  };
}

// fetchWithSSE wraps fakeServer's fetch so GETs to sse?… go to onStream.
function fetchWithSSE(srv, onStream) {
  const streams = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url);
    if (u.pathname.endsWith("/sse")) {
      streams.push({ session: u.searchParams.get("session"), lastEventId: init.headers["Last-Event-ID"] });
      return onStream(streams.length, init);
    }
    return srv.fetch(url, init);
  };
  return { fetch, streams };
}

const until = async (cond) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), "condition not met in time");
};

test("sse: events run in order, resume from Last-Event-ID, which carries the ack", async () => {
  const ran = [];
  const srv = fakeServer({ session: () => ({ session: "s1" }), ack: () => ({}) });
  const feeds = [];
  const { fetch, streams } = fetchWithSSE(srv, (n) => {
    const f = sseResponse();
    feeds.push(f);
    return f.res;
  });
  const p = client(fetch);
  p.expose("f", (x) => ran.push(x));
  await p.start({ transport: "sse" });
  await until(() => feeds.length === 1);
  feeds[0].push("retry: 1000\nevent: open\ndata: {}\n\n");
  feeds[0].push('id: 1\ndata: {"seq":1,"fn":"f","args":[1]}\n\nid: 2\nda');
  feeds[0].push('ta: {"seq":2,"fn":"f","args":[2]}\n\n:\n\n');
  await until(() => ran.length === 2);
  feeds[0].close(); // the stream ends: the page reconnects, resuming
  await until(() => feeds.length === 2);
  assert.equal(streams[1].lastEventId, "2");
  feeds[1].push('event: open\ndata: {}\n\nid: 2\ndata: {"seq":2,"fn":"f","args":[2]}\n\nid: 3\ndata: {"seq":3,"fn":"f","args":[3]}\n\n');
  await until(() => ran.length === 3);
  assert.deepEqual(ran, [1, 2, 3], "the duplicate 2 was dropped");
  assert.equal(p.transport, "sse");
  assert.ok(!srv.requests.some((r) => r.path === "ack"), "no ack request: the reconnect carried it");
  p.stop();
  assert.deepEqual(srv.requests.find((r) => r.path === "ack").body, { session: "s1", ack: 3 }, "stop sends the pending ack");
});

test("auto: a buffered stream falls back to long-poll", async () => {
  const ran = [];
  const transports = [];
  let polls = 0;
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    poll: () => (++polls === 1 ? { messages: [{ seq: 1, fn: "f", args: ["via long-poll"] }] } : new Promise(() => {})),
  });
  const { fetch } = fetchWithSSE(srv, () => sseResponse().res); // never sends the open event
  const p = createClient({ base: "http://test/parley/", fetch, WebSocket: null, storage: null, page: () => "/", sseOpenTimeout: 30 });
  p.expose("f", (x) => ran.push(x));
  p.on("transport", (t) => transports.push(t));
  await p.start();
  await until(() => ran.length === 1);
  assert.deepEqual(transports, ["longpoll"]);
  assert.deepEqual(ran, ["via long-poll"]);
  p.stop();
});

test("poll: at the advised interval; advice moves a Comet page to polling and back", async () => {
  const transports = [];
  let n = 0;
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    poll: (b) => {
      n++;
      if (b.wait === undefined && n === 1) return { advice: { transport: "poll", interval: 10 } };
      if (b.wait === false && n === 3) return { advice: { transport: "comet" } };
      if (b.wait === false) return { advice: { interval: 10 } };
      return new Promise(() => {});
    },
  });
  const p = client(srv.fetch);
  p.on("transport", (t) => transports.push(t));
  await p.start({ transport: "longpoll" });
  await until(() => transports.length === 2);
  assert.deepEqual(transports, ["poll", "longpoll"]);
  const kinds = srv.requests.filter((r) => r.path === "poll").map((r) => (r.body.wait === false ? "poll" : "hold"));
  assert.deepEqual(kinds.slice(0, 4), ["hold", "poll", "poll", "hold"]);
  p.stop();
});

test("poll: a page's own interval holds when longer than the advice; restarts leave one loop", async () => {
  const times = [];
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    poll: () => {
      times.push(Date.now());
      return { advice: { interval: 1 } };
    },
  });
  const p = client(srv.fetch);
  await p.start({ transport: "poll", interval: 40 });
  await until(() => times.length >= 3);
  p.stop();
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.ok(gaps.every((g) => g >= 35), `polled faster than asked: ${gaps}`);

  // stop() then start() at once: only one loop may poll.
  await p.start({ transport: "poll", interval: 40 });
  p.stop();
  await p.start({ transport: "poll", interval: 40 });
  const from = times.length;
  await new Promise((r) => setTimeout(r, 200));
  p.stop();
  const n = times.length - from;
  assert.ok(n >= 3 && n <= 7, `${n} polls in 200 ms at 40 ms: one loop, not two`);
});

test("poll: a reply that says more is followed by the next poll at once, acknowledging it", async () => {
  const acks = [];
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    poll: (b) => {
      acks.push(b.ack);
      if (b.ack === 0) return { messages: [{ seq: 1, fn: "f", args: [1] }, { seq: 2, fn: "f", args: [2] }], more: true };
      if (b.ack === 2) return { messages: [{ seq: 3, fn: "f", args: [3] }] };
      return {};
    },
  });
  const ran = [];
  const p = client(srv.fetch);
  p.expose("f", (x) => ran.push(x));
  await p.start({ transport: "poll", interval: 60000 });
  await until(() => ran.length === 3);
  assert.deepEqual(ran, [1, 2, 3]);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(acks, [0, 2], "the reply without more waits the interval");
  p.stop();
});

test("sse: streams that close at once back off, and auto falls back to long-poll", async () => {
  let streams = 0;
  const transports = [];
  const srv = fakeServer({ session: () => ({ session: "s1" }), poll: () => new Promise(() => {}) });
  const { fetch } = fetchWithSSE(srv, () => {
    streams++;
    const f = sseResponse();
    f.push("event: open\ndata: {}\n\n");
    f.close(); // a proxy that ends every stream right after it opens
    return f.res;
  });
  const p = createClient({ base: "http://test/parley/", fetch, WebSocket: null, storage: null, page: () => "/", random: () => 0 });
  p.on("transport", (t) => transports.push(t));
  await p.start();
  await until(() => transports.length === 1);
  assert.deepEqual(transports, ["longpoll"]);
  assert.ok(streams >= 2 && streams <= 3, `${streams} streams opened before falling back`);
  p.stop();
});
