// How a streaming page acknowledges what it has run, on simulated time:
// node --test
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "./engine.js";
import { jsonReply } from "./fakes.mjs";

// The rule under test (PROTOCOL.md, "Acknowledgements").
const DELAY_MS = 5000;
const MAX_MESSAGES = 100;

// feed is an event stream the test writes to as it goes.
function feed() {
  const chunks = [];
  let waiting = null;
  let closed = false;
  const wake = () => {
    const w = waiting;
    waiting = null;
    w?.();
  };
  const res = {
    status: 200,
    ok: true,
    redirected: false,
    headers: new Headers({ "Content-Type": "text/event-stream; charset=utf-8" }),
    body: {
      getReader: () => ({
        read: () => new Promise((resolve) => {
          const next = () => {
            if (chunks.length > 0) resolve({ done: false, value: chunks.shift() });
            else if (closed) resolve({ done: true });
            else waiting = next;
          };
          next();
        }),
        cancel: async () => {
          closed = true;
          wake();
        },
      }),
    },
  };
  return {
    res,
    push(text) {
      chunks.push(new TextEncoder().encode(text));
      wake();
    },
    close() {
      closed = true;
      wake();
    },
  };
}

// message is the event of reverse call seq, with data of about size characters.
const message = (seq, size = 0) => `id: ${seq}\ndata: ${JSON.stringify({ seq, fn: "f", args: ["x".repeat(size)] })}\n\n`;

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

async function runFor(ms) {
  for (let at = 0; at < ms; at += 10) {
    mock.timers.tick(10);
    await settle();
  }
}

// ssePage starts a page on SSE against a server that records every POST
// and opens every stream at once.
async function ssePage(t) {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  t.after(() => mock.timers.reset());
  const requests = [];
  const streams = [];
  const fetch = async (url, init) => {
    const path = new URL(url).pathname.replace("/parley/", "");
    if (path === "sse") {
      const f = feed();
      streams.push({ lastEventId: init.headers["Last-Event-ID"], ...f });
      f.push("event: open\ndata: {}\n\n");
      return f.res;
    }
    const body = JSON.parse(init.body);
    requests.push({ path, body });
    if (path === "session") return jsonReply(200, { session: "s1" });
    if (path === "call") return jsonReply(200, { results: body.calls.map((c) => ({ id: c.id, result: null })) });
    return jsonReply(200, {});
  };
  const p = createClient({ base: "http://test/parley/", fetch, page: () => "/", random: () => 0.5 });
  let ran = 0;
  p.expose("f", () => {
    ran++;
  });
  await p.start({ transport: "sse" });
  await settle();
  t.after(() => p.stop());
  return {
    p,
    streams,
    acks: () => requests.filter((r) => r.path === "ack").map((r) => r.body.ack),
    calls: () => requests.filter((r) => r.path === "call").map((r) => r.body.ack),
    ran: () => ran,
    push: (text) => streams.at(-1).push(text),
  };
}

for (const c of [
  { name: "1,000 messages at one per 10 ms", count: 1000, every: 10 },
  { name: "20 messages at one a second", count: 20, every: 1000 },
]) {
  test(`acks: ${c.name} cost one request per ${DELAY_MS} ms, or per ${MAX_MESSAGES} messages`, async (t) => {
    const page = await ssePage(t);
    for (let seq = 1; seq <= c.count; seq++) {
      page.push(message(seq));
      await runFor(c.every);
    }
    await runFor(DELAY_MS);
    assert.equal(page.ran(), c.count);
    const acks = page.acks();
    const most = Math.ceil((c.count * c.every) / DELAY_MS) + Math.floor(c.count / MAX_MESSAGES);
    assert.ok(acks.length <= most, `${acks.length} ack requests for ${c.count} messages, want at most ${most}`);
    assert.ok(acks.every((a, i) => i === 0 || a > acks[i - 1]), `acks ${acks} only go up`);
    assert.equal(acks.at(-1), c.count, "the last message is acknowledged");
  });
}

for (const c of [
  { name: "150 small messages", events: Array.from({ length: 150 }, (_, i) => message(i + 1)), early: [100], late: [100, 150] },
  { name: "3 messages of 30,000 characters", events: [1, 2, 3].map((seq) => message(seq, 30000)), early: [3], late: [3] },
]) {
  test(`acks: a burst of ${c.name} is acknowledged at once, once`, async (t) => {
    const page = await ssePage(t);
    page.push(c.events.join(""));
    await settle();
    assert.deepEqual(page.acks(), c.early, "before any time passed");
    await runFor(DELAY_MS);
    assert.deepEqual(page.acks(), c.late, "after the delay");
  });
}

test("acks: an idle page sends its last ack after the delay, then nothing", async (t) => {
  const page = await ssePage(t);
  page.push(message(1) + message(2) + message(3));
  await runFor(DELAY_MS - 10);
  assert.deepEqual(page.acks(), [], "not before the delay");
  await runFor(20);
  assert.deepEqual(page.acks(), [3]);
  await runFor(60000);
  assert.deepEqual(page.acks(), [3], "nothing is pending");
});

test("acks: a call carries the latest ack and restarts the delay", async (t) => {
  const page = await ssePage(t);
  page.push(message(1) + message(2) + message(3));
  await runFor(3000);
  await page.p.call("S", "m");
  assert.deepEqual(page.calls(), [3], "the call carries the ack");
  await runFor(3000);
  assert.deepEqual(page.acks(), [], "the call's ack stands in for the timer's");
  page.push(message(4));
  await runFor(DELAY_MS - 10);
  assert.deepEqual(page.acks(), [], "the delay runs from the first message after the call");
  await runFor(20);
  assert.deepEqual(page.acks(), [4]);
});

test("acks: a reconnecting stream carries the ack in Last-Event-ID", async (t) => {
  const page = await ssePage(t);
  page.push(message(1) + message(2) + message(3));
  await runFor(1500);
  page.streams[0].close();
  await settle();
  assert.equal(page.streams.length, 2, "the page reconnects");
  assert.equal(page.streams[1].lastEventId, "3");
  await runFor(2 * DELAY_MS);
  assert.deepEqual(page.acks(), [], "no ack request: the stream carried it");
});

test("acks: the bye beacon of a page going away carries the ack", async (t) => {
  const handlers = {};
  const beacons = [];
  for (const [name, value] of Object.entries({
    addEventListener: (type, fn) => {
      handlers[type] = fn;
    },
    navigator: { sendBeacon: (url, body) => beacons.push({ path: new URL(url).pathname, body: JSON.parse(body) }) },
  })) {
    const was = Object.getOwnPropertyDescriptor(globalThis, name);
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
    t.after(() => (was ? Object.defineProperty(globalThis, name, was) : delete globalThis[name]));
  }
  const page = await ssePage(t);
  page.push(message(1) + message(2));
  await settle();
  handlers.pagehide();
  assert.deepEqual(beacons, [{ path: "/parley/bye", body: { session: "s1", ack: 2 } }]);
  await runFor(2 * DELAY_MS);
  assert.deepEqual(page.acks(), [], "the beacon carried it");
});
