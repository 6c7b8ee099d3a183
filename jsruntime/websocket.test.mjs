// The WebSocket transport of the runtime, and "auto" choosing among the
// transports, against fake sockets on simulated time: node --test
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "./engine.js";
import { fakeWebSockets, jsonReply, memoryStorage } from "./fakes.mjs";

const BASE = "http://test/parley/";
const KEY = "parley:transport:" + BASE;
const HOUR = 60 * 60 * 1000;
// The rules under test (PROTOCOL.md, "WebSocket").
const ACK_DELAY_MS = 5000;
const OPEN_TIMEOUT_MS = 5000;
const SSE_OPEN_TIMEOUT_MS = 3000;

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

async function runFor(ms) {
  for (let at = 0; at < ms; at += 10) {
    mock.timers.tick(10);
    await settle();
  }
}

// held is a request the server holds until the page aborts it.
function held(init) {
  return new Promise((_, reject) => {
    init.signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
  });
}

// silentStream is an event stream that sends nothing (a buffering proxy)
// until the page cancels it.
function silentStream() {
  let end;
  const ended = new Promise((r) => (end = r));
  return {
    status: 200,
    ok: true,
    redirected: false,
    headers: new Headers({ "Content-Type": "text/event-stream" }),
    body: {
      getReader: () => ({
        read: () => ended.then(() => ({ done: true })),
        cancel: async () => end(),
      }),
    },
  };
}

// page starts a page against fake sockets and a fake HTTP server that
// records every request. handlers override the server's answers by path;
// by default sessions open as s1, s2..., calls echo their arguments, acks
// are answered {}, and polls and streams are held.
async function page(t, { transport = "websocket", handlers = {}, now = 0, ...options } = {}) {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now });
  t.after(() => mock.timers.reset());
  const { WebSocket, sockets } = fakeWebSockets();
  const requests = [];
  let sessions = 0;
  const fetch = async (url, init = {}) => {
    const path = new URL(url).pathname.replace("/parley/", "");
    const body = typeof init.body === "string" ? JSON.parse(init.body) : init.body;
    requests.push({ path, body });
    if (handlers[path]) return handlers[path](body, init);
    if (path === "session") return jsonReply(200, { session: `s${++sessions}` });
    if (path === "call") {
      const calls = body instanceof FormData ? JSON.parse(body.get("envelope")).calls : body.calls;
      return jsonReply(200, { results: calls.map((c) => ({ id: c.id, result: c.args })) });
    }
    if (path === "ack") return jsonReply(200, {});
    return held(init);
  };
  const p = createClient({ base: BASE, fetch, WebSocket, storage: null, page: () => "/", random: () => 0.5, ...options });
  const ran = [];
  const gaps = [];
  const transports = [];
  p.expose("f", (x) => ran.push(x));
  p.on("gap", (g) => gaps.push(g.reason));
  p.on("transport", (x) => transports.push(x));
  t.after(() => p.stop());
  await p.start({ transport });
  await settle();
  return { p, sockets, requests, ran, gaps, transports, paths: (path) => requests.filter((r) => r.path === path) };
}

const messages = (...seqs) => ({ messages: seqs.map((seq) => ({ seq, fn: "f", args: [seq] })) });
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("websocket: frames run once in order; acks are frames, at most one per ACK_DELAY_MS, at once past 100 messages", async (t) => {
  const pg = await page(t);
  const [ws] = pg.sockets;
  assert.equal(ws.url, "ws://test/parley/ws?session=s1&ack=0");
  ws.accept();
  assert.equal(pg.p.state, "connected");
  assert.equal(pg.p.transport, "websocket");
  ws.frame(messages(1, 2));
  ws.frame(messages(2, 3));
  await runFor(ACK_DELAY_MS - 10);
  assert.deepEqual(pg.ran, [1, 2, 3], "the repeated 2 ran once");
  assert.deepEqual(ws.acks(), [], "no ack before the delay");
  await runFor(20);
  assert.deepEqual(ws.acks(), [3], "one ack frame for both frames");
  ws.frame(messages(4));
  await runFor(ACK_DELAY_MS / 2);
  ws.frame(messages(5));
  await runFor(ACK_DELAY_MS / 2 + 10);
  assert.deepEqual(ws.acks(), [3, 5], "the delay runs from the first message unacknowledged");
  ws.frame(messages(...range(6, 155)));
  assert.deepEqual(ws.acks(), [3, 5, 155], "a burst of 150 is acknowledged at once");
  await runFor(ACK_DELAY_MS);
  assert.deepEqual(ws.acks(), [3, 5, 155], "nothing is pending");
  assert.equal(pg.paths("ack").length, 0, "no POST ack");

  await runFor(1000);
  ws.end(1006);
  await runFor(500);
  assert.equal(pg.sockets.length, 2, "the page reconnects");
  assert.equal(pg.sockets[1].url, "ws://test/parley/ws?session=s1&ack=155", "resuming after what it ran");
  pg.sockets[1].accept();
  pg.sockets[1].frame(messages(155, 156));
  assert.equal(pg.ran.length, 156, "the resent 155 is skipped");
});

test("websocket: under https the socket is wss", async (t) => {
  const pg = await page(t, { base: "https://test/parley/" });
  assert.equal(pg.sockets[0].url, "wss://test/parley/ws?session=s1&ack=0");
});

test("websocket: calls go over the socket and settle from its reply frames", async (t) => {
  const pg = await page(t);
  const [ws] = pg.sockets;
  ws.accept();
  ws.frame(messages(1));
  const outcome = (x) => x.then((v) => ({ v }), (e) => ({ code: e.code, message: e.message, details: e.details }));
  const a = outcome(pg.p.call("S", "a", [1]));
  const b = outcome(pg.p.call("S", "b", [2]));
  await settle();
  assert.deepEqual(ws.calls(), [{
    re: 1,
    calls: [{ id: 1, service: "S", method: "a", args: [1] }, { id: 2, service: "S", method: "b", args: [2] }],
    ordered: false,
    ack: 1,
  }], "one frame for the calls of one tick, carrying the ack");
  ws.frame({ re: 1, results: [{ id: 2, error: { code: "invalid_argument", message: "bad", details: { f: 1 } } }, { id: 1, result: "A" }] });
  assert.deepEqual(await a, { v: "A" });
  assert.deepEqual(await b, { code: "invalid_argument", message: "bad", details: { f: 1 } });

  const [x, y] = pg.p.batch(() => [outcome(pg.p.call("S", "x")), outcome(pg.p.call("S", "y"))], { ordered: true });
  await settle();
  assert.equal(ws.calls()[1].ordered, true);
  ws.frame({ re: 2, error: { code: "resource_exhausted", message: "too many" } });
  assert.deepEqual([(await x).code, (await y).code], ["resource_exhausted", "resource_exhausted"], "an error of the batch fails each call");

  const slow = outcome(pg.p.call("S", "slow", [], { timeout: 100 }));
  await settle();
  assert.equal(ws.calls()[2].calls[0].timeout, 100, "the timeout travels");
  await runFor(90);
  let done = false;
  slow.then(() => (done = true));
  await settle();
  assert.equal(done, false, "not before the timeout");
  await runFor(20);
  assert.equal((await slow).code, "deadline_exceeded");
  ws.frame({ re: 3, results: [{ id: 5, result: "late" }] }); // ignored
  assert.equal(pg.paths("call").length, 0, "nothing went by POST call");
  assert.equal(ws.calls().length, 3);
});

for (const c of [
  { name: "a call with a signal", call: (p) => p.call("S", "m", [1], { signal: new AbortController().signal }) },
  { name: "an upload", call: (p) => p.call("S", "m", [new Blob(["x"])]) },
  { name: "a call with headers of its own", call: (p) => p.call("S", "m", [1], { headers: { "X-Tenant": "t" } }) },
]) {
  test(`websocket: ${c.name} goes by POST call`, async (t) => {
    const pg = await page(t);
    pg.sockets[0].accept();
    await c.call(pg.p);
    assert.equal(pg.paths("call").length, 1);
    assert.deepEqual(pg.sockets[0].calls(), []);
  });
}

test("websocket: calls before the open frame go by POST call", async (t) => {
  const pg = await page(t);
  pg.sockets[0].open();
  assert.deepEqual(await pg.p.call("S", "m", [1]), [1]);
  assert.equal(pg.paths("call").length, 1);
  assert.deepEqual(pg.sockets[0].calls(), []);
});

test("websocket: a POST reply that sets a cookie renews the socket once its calls in flight are answered", async (t) => {
  let setCookie = true;
  const pg = await page(t, {
    handlers: {
      call: (body) => jsonReply(200, { results: body.calls.map((c) => ({ id: c.id, result: c.args })), ...(setCookie ? { cookie: true } : {}) }),
    },
  });
  const [ws] = pg.sockets;
  ws.accept();
  ws.frame(messages(1, 2));
  const inFlight = pg.p.call("S", "overSocket", [1]);
  await settle();
  assert.equal(ws.calls().length, 1, "a call in flight on the socket");
  assert.deepEqual(await pg.p.call("S", "name", ["ann"], { headers: { "X-Tenant": "t" } }), ["ann"], "a call by POST sets a cookie");
  await settle();
  assert.equal(ws.closedWith, undefined, "the socket stays while a call is in flight on it");
  setCookie = false;
  const next = pg.p.call("S", "after", [2]);
  await settle();
  assert.deepEqual(await next, [2]);
  assert.equal(ws.calls().length, 1, "the next call goes by POST, not over the old socket");
  ws.frame({ re: 1, results: [{ id: 1, result: "done" }] });
  assert.equal(await inFlight, "done");
  await settle();
  assert.equal(ws.closedWith, 1000, "then it closes");
  await runFor(10);
  assert.equal(pg.sockets.length, 2, "and the next one opens at once");
  assert.equal(pg.sockets[1].url, "ws://test/parley/ws?session=s1&ack=2", "resuming after what the page ran");
  assert.deepEqual(pg.gaps, []);
  pg.sockets[1].accept();
  assert.equal(pg.p.transport, "websocket", "a renewal is no fault of the socket");
  ws.frame(messages(3)); // the old socket is gone
  pg.sockets[1].frame(messages(2, 3));
  assert.deepEqual(pg.ran, [1, 2, 3]);
});

test("websocket: a cookie set while the socket opens renews it too", async (t) => {
  const pg = await page(t, {
    handlers: { call: (body) => jsonReply(200, { results: body.calls.map((c) => ({ id: c.id, result: c.args })), cookie: true }) },
  });
  assert.deepEqual(await pg.p.call("S", "name", ["ann"]), ["ann"], "by POST before the open frame");
  await runFor(10);
  assert.equal(pg.sockets[0].closedWith, 1000, "the socket opened with the cookies of before is closed");
  assert.equal(pg.sockets.length, 2, "and another opened");
  pg.sockets[1].accept();
  assert.equal(pg.p.state, "connected");
  assert.equal(pg.p.transport, "websocket");
});

test("websocket: a socket that closes under calls fails them as network errors and never sends them again", async (t) => {
  const pg = await page(t);
  const [ws] = pg.sockets;
  ws.accept();
  const errs = [];
  for (const x of [pg.p.call("S", "a"), pg.p.call("S", "b")]) x.catch((e) => errs.push(e));
  await settle();
  assert.equal(ws.calls().length, 1);
  ws.end(1006);
  await settle();
  assert.deepEqual(errs.map((e) => e.code), ["unavailable", "unavailable"], "at once");
  assert.match(errs[0].message, /network error/);
  await runFor(2000);
  assert.equal(pg.sockets.length, 2);
  pg.sockets[1].accept();
  await runFor(2000);
  assert.equal(pg.paths("call").length, 0, "not sent again over HTTP");
  assert.deepEqual(pg.sockets[1].calls(), [], "nor over the next socket");
});

test("websocket: a reset frame ends the session and the page opens a new one", async (t) => {
  const pg = await page(t);
  const [ws] = pg.sockets;
  ws.accept();
  ws.frame(messages(1, 2));
  ws.frame({ reset: { reason: "overflow" } });
  ws.end(1000);
  await runFor(1000);
  assert.deepEqual(pg.gaps, ["overflow"]);
  assert.equal(pg.paths("session").length, 2);
  assert.equal(pg.sockets.length, 2);
  assert.equal(pg.sockets[1].url, "ws://test/parley/ws?session=s2&ack=0");
  assert.equal(pg.p.transport, "websocket");
});

test("websocket: a shutdown frame runs its messages; the page comes back with its session after the delay", async (t) => {
  const pg = await page(t);
  const [ws] = pg.sockets;
  ws.accept();
  await runFor(2000);
  ws.frame({ ...messages(1), shutdown: { reconnect: 1000 } });
  ws.end(1001);
  await runFor(740);
  assert.equal(pg.sockets.length, 1, "not before the jittered delay");
  await runFor(20);
  assert.equal(pg.sockets.length, 2);
  assert.equal(pg.sockets[1].url, "ws://test/parley/ws?session=s1&ack=1");
  assert.deepEqual(pg.ran, [1]);
  assert.deepEqual(pg.gaps, []);
});

test("websocket: stop sends the pending ack, lets the calls in flight finish, then closes with 1000", async (t) => {
  const pg = await page(t);
  const [ws] = pg.sockets;
  ws.accept();
  const call = pg.p.call("S", "m");
  await settle();
  ws.frame(messages(1, 2, 3));
  pg.p.stop();
  await settle();
  assert.deepEqual(ws.acks(), [3]);
  assert.equal(ws.closedWith, undefined, "a call is in flight");
  assert.deepEqual(await pg.p.call("S", "later"), [], "later calls go by POST");
  ws.frame({ re: 1, results: [{ id: 1, result: "ok" }] });
  assert.equal(await call, "ok");
  await settle();
  assert.equal(ws.closedWith, 1000);
});

// Ways for a socket to fail before it is of use, each of which makes
// "auto" move on, and makes an explicit "websocket" page try again.
const broken = [
  { name: "a failed upgrade", act: (ws) => ws.fail() },
  { name: "no open frame", act: (ws) => ws.open() },
  { name: "a socket that never opens", act: () => {} },
];

for (const c of broken) {
  test(`auto: ${c.name} falls back to SSE, and a buffered stream to long-poll`, async (t) => {
    const pg = await page(t, { transport: "auto", handlers: { sse: () => silentStream() } });
    assert.equal(pg.p.transport, "websocket", "auto tries WebSocket first");
    c.act(pg.sockets[0]);
    for (let ms = 0; ms <= OPEN_TIMEOUT_MS && pg.transports.length === 0; ms += 10) await runFor(10);
    assert.deepEqual(pg.transports, ["sse"]);
    await runFor(SSE_OPEN_TIMEOUT_MS + 10);
    assert.deepEqual(pg.transports, ["sse", "longpoll"]);
    assert.deepEqual(pg.requests.map((r) => r.path).filter((x) => x !== "ack"), ["session", "sse", "poll"]);
    assert.equal(pg.sockets.length, 1);
    assert.notEqual(pg.sockets[0].readyState, 1, "the socket is not left open");
  });

  test(`websocket: ${c.name} never falls back when asked for WebSocket`, async (t) => {
    const pg = await page(t, { handlers: { sse: () => silentStream() } });
    for (let i = 0; i < 60 && pg.sockets.length <= 5; i++) {
      c.act(pg.sockets.at(-1));
      await runFor(1000);
    }
    await runFor(OPEN_TIMEOUT_MS + 10);
    assert.ok(pg.sockets.length > 5, `${pg.sockets.length} sockets: the page keeps trying`);
    assert.deepEqual(pg.transports, []);
    assert.equal(pg.p.transport, "websocket");
    assert.deepEqual(pg.paths("sse").concat(pg.paths("poll")), []);
    assert.equal(pg.paths("session").length, 1);
  });
}

test("auto: sockets that keep closing as soon as they open fall back to SSE", async (t) => {
  const pg = await page(t, { transport: "auto", handlers: { sse: () => silentStream() } });
  pg.sockets[0].accept();
  pg.sockets[0].end(1000);
  await runFor(1000);
  assert.deepEqual(pg.transports, [], "one is not enough");
  pg.sockets[1].accept();
  pg.sockets[1].end(1000);
  await runFor(10);
  assert.deepEqual(pg.transports, ["sse"]);
});

for (const c of [
  {
    name: "the server is unreachable",
    fetch: { ack: () => Promise.reject(new TypeError("Failed to fetch")) },
    gaps: [],
    sessions: 1,
  },
  {
    name: "the session is refused",
    fetch: { ack: () => jsonReply(403, { error: { code: "permission_denied", message: "not yours" } }) },
    gaps: ["expired"],
    sessions: 2,
  },
  {
    name: "the session is gone",
    fetch: { ack: () => jsonReply(200, { reset: { reason: "expired" } }) },
    gaps: ["expired"],
    sessions: 2,
  },
]) {
  test(`auto: a failed upgrade when ${c.name} is no fault of WebSocket`, async (t) => {
    const pg = await page(t, { transport: "auto", handlers: c.fetch });
    pg.sockets[0].fail();
    await runFor(1000);
    assert.deepEqual(pg.transports, [], "still on WebSocket");
    assert.equal(pg.paths("ack").length, 1, "the page asked the server over HTTP");
    assert.deepEqual(pg.gaps, c.gaps);
    assert.equal(pg.paths("session").length, c.sessions);
    assert.equal(pg.sockets.length, 2, "and tries the socket again");
  });
}

test("auto: a failed upgrade while the browser is offline is no fault of WebSocket", async (t) => {
  const was = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  Object.defineProperty(globalThis, "navigator", { value: { onLine: false }, configurable: true, writable: true });
  t.after(() => (was ? Object.defineProperty(globalThis, "navigator", was) : delete globalThis.navigator));
  const pg = await page(t, { transport: "auto" });
  pg.sockets[0].fail();
  await runFor(1000);
  pg.sockets[1].open();
  await runFor(OPEN_TIMEOUT_MS + 10);
  assert.deepEqual(pg.transports, []);
  assert.equal(pg.p.state, "offline");
});

const NOW = 1_700_000_000_000;

test("auto: remembers what worked, per server", async (t) => {
  const storage = memoryStorage();
  const pg = await page(t, { transport: "auto", now: NOW, storage });
  pg.sockets[0].accept();
  assert.deepEqual(JSON.parse(storage.getItem(KEY)), { t: "websocket", at: NOW });
});

test("auto: remembers the fallback that worked", async (t) => {
  const storage = memoryStorage();
  const pg = await page(t, {
    transport: "auto",
    now: NOW,
    storage,
    handlers: { sse: () => streamOpen() },
  });
  pg.sockets[0].fail();
  await runFor(100);
  assert.deepEqual(pg.transports, ["sse"]);
  assert.equal(JSON.parse(storage.getItem(KEY)).t, "sse");
});

// streamOpen is an event stream that opens and then sends nothing.
function streamOpen() {
  let sent = false;
  const res = silentStream();
  const reader = res.body.getReader();
  res.body.getReader = () => ({
    read: () => {
      if (sent) return reader.read();
      sent = true;
      return Promise.resolve({ done: false, value: new TextEncoder().encode("event: open\ndata: {}\n\n") });
    },
    cancel: reader.cancel,
  });
  return res;
}

for (const c of [
  { name: "a choice made 23 hours ago is used", stored: { t: "sse", at: NOW - 23 * HOUR }, first: "sse", sockets: 0 },
  { name: "a choice of long-poll is used", stored: { t: "longpoll", at: NOW - HOUR }, first: "poll", sockets: 0 },
  { name: "a choice made 25 hours ago has expired", stored: { t: "sse", at: NOW - 25 * HOUR }, first: "ws", sockets: 1 },
  { name: "a choice from the future is ignored", stored: { t: "sse", at: NOW + HOUR }, first: "ws", sockets: 1 },
  { name: "a choice that is no transport is ignored", stored: { t: "poll", at: NOW - HOUR }, first: "ws", sockets: 1 },
  { name: "garbage is ignored", stored: "{not json", first: "ws", sockets: 1 },
]) {
  test(`auto: ${c.name}`, async (t) => {
    const storage = memoryStorage({ [KEY]: typeof c.stored === "string" ? c.stored : JSON.stringify(c.stored) });
    const pg = await page(t, { transport: "auto", now: NOW, storage, handlers: { sse: () => streamOpen() } });
    await runFor(100);
    assert.equal(pg.sockets.length, c.sockets);
    const first = pg.sockets.length > 0 ? "ws" : pg.requests.find((r) => r.path === "sse" || r.path === "poll")?.path;
    assert.equal(first, c.first);
    assert.deepEqual(pg.transports, [], "a start is no switch");
  });
}

test("auto: storage that refuses access is only not used", async (t) => {
  const refuse = () => {
    throw new Error("SecurityError");
  };
  const pg = await page(t, { transport: "auto", storage: { getItem: refuse, setItem: refuse } });
  pg.sockets[0].accept();
  pg.sockets[0].frame(messages(1));
  assert.deepEqual(pg.ran, [1]);
});

test("auto: a remembered choice is kept, not renewed, while it works", async (t) => {
  const storage = memoryStorage({ [KEY]: JSON.stringify({ t: "websocket", at: NOW - HOUR }) });
  const pg = await page(t, { transport: "auto", now: NOW, storage });
  pg.sockets[0].accept();
  assert.deepEqual(JSON.parse(storage.getItem(KEY)), { t: "websocket", at: NOW - HOUR });
});

test("explicit transports leave the remembered choice alone", async (t) => {
  const storage = memoryStorage();
  const pg = await page(t, { transport: "websocket", now: NOW, storage });
  pg.sockets[0].accept();
  assert.equal(storage.getItem(KEY), null);
});

test("websocket: start refuses it where there is no WebSocket", async (t) => {
  const p = createClient({ base: BASE, fetch: async () => jsonReply(200, { session: "s1" }), WebSocket: null, storage: null });
  await assert.rejects(p.start({ transport: "websocket" }), (e) => e.code === "unimplemented");
  await p.start();
  t.after(() => p.stop());
  assert.equal(p.transport, "sse", "auto starts with what the browser has");
});

test("websocket: advice in the open frame moves the page to polling, and back", async (t) => {
  const pg = await page(t, { handlers: { poll: (b) => jsonReply(200, b.wait === false ? { advice: { transport: "comet" } } : {}) } });
  pg.sockets[0].accept({ advice: { transport: "poll", interval: 100 } });
  await runFor(200);
  assert.deepEqual(pg.transports, ["poll", "websocket"]);
  assert.equal(pg.sockets[0].closedWith, 1000, "the first socket is closed");
  assert.equal(pg.sockets.length, 2);
});
