// Unit tests of subscriptions, invocation results and reserved names:
// node --test
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient, topicMatches } from "./engine.js";

// fakeServer answers each endpoint with a handler and records requests.
function fakeServer(handlers) {
  const requests = [];
  const fetch = async (url, init) => {
    const path = new URL(url).pathname.replace("/parley/", "");
    const body = JSON.parse(init.body);
    requests.push({ path, body });
    const out = await handlers[path](body);
    return new Response(JSON.stringify(out), { status: 200, headers: { "Content-Type": "application/json" } });
  };
  return { fetch, requests };
}

const client = (fetch) => createClient({ base: "http://test/parley/", fetch, page: () => "/p" });
const tick = () => new Promise((r) => setTimeout(r, 0));

// builtinCalls returns the calls the page made to the built-in service.
const builtinCalls = (srv) =>
  srv.requests.filter((r) => r.path === "call").flatMap((r) => r.body.calls.filter((c) => c.service === "$parley")
    .map((c) => ({ session: r.body.session, method: c.method, args: c.args })));

test("topicMatches: * is one segment, a final ** one or more", () => {
  for (const [pattern, topic, want] of [
    ["/stocks/GOOG", "/stocks/GOOG", true],
    ["/stocks/GOOG", "/stocks/GOOG/x", false],
    ["/stocks/*", "/stocks/GOOG", true],
    ["/stocks/*", "/stocks", false],
    ["/stocks/*", "/stocks/GOOG/bid", false],
    ["/stocks/**", "/stocks/GOOG/bid", true],
    ["/stocks/**", "/stocks/GOOG", true],
    ["/stocks/**", "/stocks", false],
    ["/*/GOOG", "/stocks/GOOG", true],
    ["/*/GOOG", "/stocks/AAPL", false],
  ]) {
    assert.equal(topicMatches(pattern, topic), want, `${pattern} ${topic}`);
  }
});

test("subscriptions: registered on each new session, dispatched once per callback", async () => {
  let n = 0;
  let pending = [];
  const srv = fakeServer({
    session: () => ({ session: `s${++n}` }),
    call: (b) => {
      const reply = { results: b.calls.map((c) => ({ id: c.id, result: null })), messages: pending };
      pending = [];
      if (b.session === "s1" && b.calls.some((c) => c.method === "reset-me")) return { ...reply, reset: { reason: "expired" } };
      return reply;
    },
  });
  const p = client(srv.fetch);
  const got = [];
  const all = (data, topic) => got.push(`all:${topic}=${data}`);
  const early = p.subscribe("/stocks/**", all); // before start: waits for the session
  await p.start({ transport: "passive" });
  await early;
  const offGoog = await p.subscribe("/stocks/GOOG", (data, topic) => got.push(`goog:${topic}=${data}`));
  await p.subscribe("/stocks/*", all); // the same callback again: still called once
  assert.deepEqual(builtinCalls(srv), [
    { session: "s1", method: "subscribe", args: [["/stocks/**"]] },
    { session: "s1", method: "subscribe", args: [["/stocks/GOOG"]] },
    { session: "s1", method: "subscribe", args: [["/stocks/*"]] },
  ]);

  pending = [
    { seq: 1, fn: "parley.publish", args: ["/stocks/GOOG", 101] },
    { seq: 2, fn: "parley.publish", args: ["/bonds/X", 1] },
  ];
  await p.call("S", "m");
  assert.deepEqual(got, ["all:/stocks/GOOG=101", "goog:/stocks/GOOG=101"]);

  await offGoog();
  assert.deepEqual(builtinCalls(srv).at(-1), { session: "s1", method: "unsubscribe", args: [["/stocks/GOOG"]] });

  // A gap: the new session gets every subscription the page still has.
  await p.call("S", "reset-me");
  while (p.session !== "s2") await tick();
  await tick();
  assert.deepEqual(builtinCalls(srv).at(-1), { session: "s2", method: "subscribe", args: [["/stocks/**", "/stocks/*"]] });
  assert.throws(() => p.subscribe("stocks", all), TypeError);
  assert.throws(() => p.subscribe("/a", null), TypeError);
});

test("passive: calls ask to pull the page's messages; a page with a receive loop does not", async () => {
  for (const [transport, pull] of [["passive", true], ["poll", undefined]]) {
    const srv = fakeServer({
      session: () => ({ session: "s1" }),
      call: (b) => ({ results: b.calls.map((c) => ({ id: c.id, result: null })) }),
      poll: () => ({}),
    });
    const p = client(srv.fetch);
    await p.start({ transport });
    await p.call("S", "m");
    const calls = srv.requests.filter((r) => r.path === "call");
    assert.equal(calls.at(-1).body.pull, pull, transport);
    await p.stop();
  }
});

test("invocations: the value, throw or rejection goes back with the invocation id", async () => {
  let pending = [];
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    call: (b) => {
      const reply = { results: b.calls.map((c) => ({ id: c.id, result: null })), messages: pending };
      pending = [];
      return reply;
    },
  });
  const p = client(srv.fetch);
  const errors = [];
  p.on("error", (e) => errors.push(e.message));
  p.expose("Page", {
    status(x) { return { calls: x }; },
    nothing() {},
    async later() { return "done"; },
    throws() { throw new TypeError("bad state"); },
    rejects() { return Promise.reject("plain"); },
    cyclic() { const o = {}; o.o = o; return o; },
  });
  assert.throws(() => p.expose("parley", {}), TypeError);
  assert.throws(() => p.expose("parley.dom", {}), TypeError);
  await p.start({ transport: "passive" });
  pending = [
    { seq: 1, fn: "Page.status", args: [3], invoke: "i1" },
    { seq: 2, fn: "Page.nothing", args: [], invoke: "i2" },
    { seq: 3, fn: "Page.later", args: [], invoke: "i3" },
    { seq: 4, fn: "Page.throws", args: [], invoke: "i4" },
    { seq: 5, fn: "Page.rejects", args: [], invoke: "i5" },
    { seq: 6, fn: "Page.cyclic", args: [], invoke: "i6" },
    { seq: 7, fn: "Page.missing", args: [], invoke: "i7" },
    { seq: 8, fn: "Page.status", args: [1] }, // a plain call: no result posted
  ];
  const warn = console.warn;
  console.warn = () => {};
  try {
    await p.call("S", "m");
    await tick();
    await tick();
  } finally {
    console.warn = warn;
  }
  const results = Object.fromEntries(builtinCalls(srv).filter((c) => c.method === "result").map((c) => c.args));
  assert.deepEqual(results, {
    i1: { value: { calls: 3 } },
    i2: { value: null },
    i3: { value: "done" },
    i4: { error: { name: "TypeError", message: "bad state" } },
    i5: { error: { name: "", message: "plain" } },
    i6: { error: { name: "TypeError", message: results.i6.error.message } },
    i7: { error: { name: "ParleyError", message: "no exposed function Page.missing" } },
  });
  assert.match(results.i6.error.message, /cannot be sent as JSON/);
  assert.deepEqual(errors, ["no exposed function Page.missing"], "only the missing function is a page error");
});

test("runtime functions cannot be reached through exposed names", async () => {
  let pending = [];
  const srv = fakeServer({
    session: () => ({ session: "s1" }),
    call: (b) => {
      const reply = { results: b.calls.map((c) => ({ id: c.id, result: null })), messages: pending };
      pending = [];
      return reply;
    },
  });
  const p = client(srv.fetch);
  const errors = [];
  p.on("error", (e) => errors.push(e.code));
  await p.start({ transport: "passive" });
  pending = [{ seq: 1, fn: "parley.dom.constructor", args: [] }, { seq: 2, fn: "parley.eval", args: ["x"] }];
  const error = console.error;
  console.error = () => {};
  try {
    await p.call("S", "m");
  } finally {
    console.error = error;
  }
  assert.deepEqual(errors, ["not_found", "not_found"]);
});
