// One held connection shared by a browser's tabs: election, routing, acks
// and handoff between clients in one process, on a fake lock manager, fake
// BroadcastChannels, fake sockets and simulated time: node --test
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "./engine.js";
import { fakeChannels, fakeLocks, fakeWebSockets, jsonReply } from "./fakes.mjs";

const BASE = "http://test/parley/";
const LOCK = "parley:" + BASE;
const ACK_DELAY_MS = 5000;

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function runFor(ms) {
  for (let at = 0; at < ms; at += 10) {
    mock.timers.tick(10);
    await settle();
  }
}

function held(init) {
  return new Promise((_, reject) => {
    init.signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
  });
}

// browser is one browser's shared parts: its locks, its channels and a
// fake server numbering sessions s1, s2... for all its tabs. handlers
// override the server's answers by path.
function browser(t, { handlers = {}, sessionReply = {} } = {}) {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  t.after(() => mock.timers.reset());
  const locks = fakeLocks();
  const channels = fakeChannels();
  let sessions = 0;
  const tabs = [];

  // tab opens a page of the browser; share: false passes locks and
  // channels all the same.
  async function tab({ transport = "websocket", share, withLocks = true } = {}) {
    const { WebSocket, sockets } = fakeWebSockets();
    const lockTab = locks.tab();
    const channelTab = channels.tab();
    const requests = [];
    const fetch = async (url, init = {}) => {
      const path = new URL(url).pathname.replace("/parley/", "") + new URL(url).search;
      const body = typeof init.body === "string" ? JSON.parse(init.body) : init.body;
      requests.push({ path, body });
      const name = path.split("?")[0];
      if (handlers[name]) return handlers[name](body, init, requests.length);
      if (name === "session") return jsonReply(200, { session: `s${++sessions}`, ...sessionReply });
      if (name === "call") return jsonReply(200, { results: body.calls.map((c) => ({ id: c.id, result: c.args })) });
      if (name === "ack") return jsonReply(200, {});
      return held(init);
    };
    const p = createClient({
      base: BASE,
      fetch,
      WebSocket,
      storage: null,
      page: () => "/",
      random: () => 0.5,
      locks: withLocks ? lockTab : null,
      BroadcastChannel: withLocks ? channelTab.BroadcastChannel : null,
    });
    const ran = [];
    const gaps = [];
    const states = [];
    p.expose("f", (x) => ran.push(x));
    p.on("gap", (g) => gaps.push(g.reason));
    p.on("state", (s) => states.push(s));
    t.after(() => p.stop());
    await p.start({ transport, share });
    await settle();
    const tb = {
      p,
      lock: lockTab.id,
      sockets,
      requests,
      ran,
      gaps,
      states,
      paths: (path) => requests.filter((r) => r.path.split("?")[0] === path),
      // crash is the tab dying: the browser releases its lock and closes
      // its channels; its socket breaks.
      crash() {
        lockTab.close();
        channelTab.close();
        for (const s of sockets) s.readyState = 3;
      },
    };
    tabs.push(tb);
    return tb;
  }
  return { locks, channels, tab, tabs, told: (t) => channels.log.filter((m) => m.data.t === t).map((m) => m.data) };
}

const messages = (...seqs) => seqs.map((seq) => ({ seq, fn: "f", args: [seq] }));
const frame = (session, ...seqs) => ({ session, messages: messages(...seqs) });
// sessionAcks returns the per-session ack frames a socket carried.
const sessionAcks = (ws) => ws.sent.filter((f) => f.ack !== undefined && f.session !== undefined && f.re === undefined).map((f) => [f.session, f.ack]);

test("share: one leader among three tabs holds the only socket, and each tab runs only its own messages, once", async (t) => {
  const b = browser(t);
  const a = await b.tab();
  const [ws] = a.sockets;
  assert.equal(ws.url, "ws://test/parley/ws?sessions=s1.0", "the leader names its own session");
  ws.accept();
  const bb = await b.tab();
  const c = await b.tab();
  await settle();
  assert.equal(b.locks.holder(LOCK), a.lock, "the first tab leads");
  assert.equal(bb.sockets.length + c.sockets.length, 0, "followers hold no connection");
  assert.deepEqual(ws.sent.filter((f) => f.join), [{ join: "s2", ack: 0 }, { join: "s3", ack: 0 }], "the followers' sessions join the socket");
  assert.deepEqual(b.told("hello").map((m) => m.session), ["s1", "s2", "s3"], "every tab says hello on start, before it knows it leads");
  for (const tb of [bb, c]) {
    assert.equal(tb.p.transport, "websocket", "followers report the shared transport");
    assert.equal(tb.p.state, "connected");
  }

  ws.frame(frame("s2", 1, 2));
  ws.frame(frame("s3", 1));
  ws.frame(frame("s1", 1));
  ws.frame(frame("s2", 2, 3));
  ws.frame(frame("s9", 1)); // no tab's: dropped
  await settle();
  assert.deepEqual(a.ran, [1]);
  assert.deepEqual(bb.ran, [1, 2, 3], "the resent 2 ran once");
  assert.deepEqual(c.ran, [1]);
  assert.deepEqual(sessionAcks(ws), [], "acks wait for the transport's delay");
  await runFor(ACK_DELAY_MS + 20);
  assert.deepEqual(sessionAcks(ws).sort(), [["s1", 1], ["s2", 3], ["s3", 1]], "one ack frame per session");
  assert.equal(a.paths("ack").length + bb.paths("ack").length + c.paths("ack").length, 0, "no POST ack");

  // Calls: the leader's over the socket for its session; followers' by POST call.
  a.p.call("S", "m", [1]);
  const fromB = bb.p.call("S", "m", [2]);
  await settle();
  assert.deepEqual(ws.calls().map((f) => f.session), ["s1"]);
  assert.deepEqual(await fromB, [2]);
  assert.equal(bb.paths("call").length, 1);
});

test("share: when the leader goes, the next tab leads and resumes every session from its ack", async (t) => {
  const b = browser(t);
  const a = await b.tab();
  const bb = await b.tab();
  const c = await b.tab();
  const [wsA] = a.sockets;
  assert.equal(wsA.url, "ws://test/parley/ws?sessions=s1.0");
  wsA.accept();
  await settle();
  wsA.frame(frame("s2", 1, 2, 3));
  wsA.frame(frame("s3", 1));
  await settle();

  // The leader crashes before it sent the acks.
  a.crash();
  await settle();
  assert.equal(b.locks.holder(LOCK), bb.lock, "the next tab in the queue leads");
  assert.deepEqual(b.told("leader").map((m) => m.tab).length, 2);
  const [wsB] = bb.sockets;
  assert.equal(wsB.url, "ws://test/parley/ws?sessions=s2.3,s3.1", "every session with the ack its tab ran");
  assert.equal(c.sockets.length, 0);
  wsB.accept();
  // The server resends what was not acknowledged, and goes on.
  wsB.frame(frame("s2", 3, 4));
  wsB.frame(frame("s3", 1, 2));
  await settle();
  assert.deepEqual(bb.ran, [1, 2, 3, 4]);
  assert.deepEqual(c.ran, [1, 2]);

  // The new leader stops: the last tab takes over.
  bb.p.stop();
  await settle();
  assert.equal(b.locks.holder(LOCK), c.lock);
  assert.deepEqual(sessionAcks(wsB).sort(), [["s2", 4], ["s3", 2]], "a leader that stops sends every pending ack");
  const [wsC] = c.sockets;
  assert.equal(wsC.url, "ws://test/parley/ws?sessions=s3.2", "a tab that stopped is named no more");
  wsC.accept();
  wsC.frame(frame("s3", 2, 3));
  await settle();
  assert.deepEqual(c.ran, [1, 2, 3], "exactly once, in order, across two handoffs");
  assert.equal(c.p.transport, "websocket");
});

test("share: a follower whose session is reset opens a new one and says hello again", async (t) => {
  const b = browser(t);
  const a = await b.tab();
  const bb = await b.tab();
  const [ws] = a.sockets;
  ws.accept();
  await settle();
  ws.frame(frame("s2", 1));
  ws.frame({ session: "s2", reset: { reason: "expired" } });
  await settle();
  assert.deepEqual(bb.gaps, ["expired"]);
  await runFor(600);
  assert.equal(bb.p.session, "s3", "the follower opened its next session itself");
  assert.deepEqual(b.told("hello").map((m) => [m.session, m.ack]).slice(1), [["s2", 0], ["s3", 0]]);
  assert.deepEqual(ws.sent.filter((f) => f.join).map((f) => f.join), ["s2", "s3"], "the leader joins the new session");
  ws.frame(frame("s2", 2)); // the old session: nobody's now
  ws.frame(frame("s3", 1));
  await settle();
  assert.deepEqual(bb.ran, [1, 1]);
  assert.equal(bb.sockets.length, 0);
});

test("share: a long-poll leader names every session with its ack, and polls again once the followers acknowledged", async (t) => {
  const polls = [];
  const b = browser(t, {
    handlers: {
      poll: (body, init) => {
        const reply = polls.length === 1 ? jsonReply(200, { sessions: { s2: { messages: messages(1, 2) }, s1: { messages: messages(1) } } }) : null;
        polls.push(body);
        return reply ?? held(init);
      },
    },
  });
  const a = await b.tab({ transport: "longpoll" });
  const bb = await b.tab({ transport: "longpoll" });
  await settle();
  assert.deepEqual(polls[0], { sessions: { s1: 0 } });
  assert.deepEqual(polls[1], { sessions: { s1: 0, s2: 0 } }, "a new tab's hello makes the leader poll again with it");
  await runFor(20);
  assert.deepEqual(a.ran, [1]);
  assert.deepEqual(bb.ran, [1, 2]);
  assert.deepEqual(polls[2], { sessions: { s1: 1, s2: 2 } }, "the next poll carries every tab's ack");
  assert.equal(polls.length, 3);
  assert.equal(bb.paths("poll").length, 0, "the follower does not poll");
});

test("share: an SSE leader opens one stream for every session and acknowledges them in one POST ack", async (t) => {
  const streams = [];
  const b = browser(t, {
    handlers: {
      sse: (body, init) => {
        let push;
        const chunks = [];
        streams.push({ init, send: (text) => (push ? push(text) : chunks.push(text)) });
        return {
          status: 200,
          ok: true,
          redirected: false,
          headers: new Headers({ "Content-Type": "text/event-stream" }),
          body: {
            getReader: () => ({
              read: () =>
                new Promise((resolve) => {
                  const give = (text) => resolve({ done: false, value: new TextEncoder().encode(text) });
                  if (chunks.length) give(chunks.shift());
                  else push = (text) => ((push = null), give(text));
                  init.signal?.addEventListener("abort", () => resolve({ done: true }));
                }),
              cancel: async () => {},
            }),
          },
        };
      },
    },
  });
  const a = await b.tab({ transport: "sse" });
  const bb = await b.tab({ transport: "sse" });
  await settle();
  const urls = a.paths("sse").map((r) => r.path);
  assert.deepEqual(urls, ["sse?sessions=s1.0", "sse?sessions=s1.0,s2.0"], "the stream is opened again for the new set");
  const s = streams[1];
  s.send('event: open\ndata: {}\n\n');
  await settle();
  s.send(`event: mux\ndata: ${JSON.stringify(frame("s2", 1, 2))}\n\nevent: mux\ndata: ${JSON.stringify(frame("s1", 1))}\n\n`);
  await settle();
  assert.deepEqual(a.ran, [1]);
  assert.deepEqual(bb.ran, [1, 2]);
  await runFor(5000 + 20);
  assert.deepEqual(a.paths("ack").map((r) => r.body), [{ sessions: { s1: 1, s2: 2 } }]);
  assert.equal(bb.paths("sse").length, 0);
});

test("share: off, each tab holds its own connection", async (t) => {
  const b = browser(t);
  const a = await b.tab({ share: false });
  const bb = await b.tab({ share: false });
  assert.equal(a.sockets[0].url, "ws://test/parley/ws?session=s1&ack=0");
  assert.equal(bb.sockets[0].url, "ws://test/parley/ws?session=s2&ack=0");
  assert.equal(b.channels.log.length, 0, "no tab talks to another");
  assert.deepEqual(b.locks.names(), [], "no lock is asked for");
});

test("share: without locks, a tab polls when the browser already holds 4 connections", async (t) => {
  for (const [held, want] of [[3, "websocket"], [4, "poll"]]) {
    await t.test(`held ${held}`, async (t) => {
      const b = browser(t, { sessionReply: { held } });
      const a = await b.tab({ transport: "auto", withLocks: false });
      assert.equal(a.p.transport, want);
      if (want === "poll") {
        assert.equal(a.sockets.length, 0);
        assert.deepEqual(a.paths("poll").map((r) => r.body), [{ session: "s1", ack: 0, wait: false }]);
      } else {
        assert.equal(a.sockets.length, 1);
      }
    });
  }
});
