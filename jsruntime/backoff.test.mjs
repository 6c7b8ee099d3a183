// The runtime's pace against servers that keep ending or refusing its
// session, on simulated time: node --test
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "./engine.js";
import { jsonReply, streamReply } from "./fakes.mjs";

// A storm is cut off at this many requests, so that a runtime that never
// waits cannot hang the test; the bounds asserted are far below it.
const CUTOFF = 2000;

const refused = () => jsonReply(503, { error: { code: "resource_exhausted", message: "too many sessions" } });

// fakeNetwork answers each path ("session", "poll", "call", "sse") with a
// handler and counts requests per path. Past CUTOFF requests it answers no
// more.
function fakeNetwork(handlers) {
  const counts = {};
  let total = 0;
  let sessions = 0;
  const fetch = async (url, init = {}) => {
    const path = new URL(url).pathname.replace("/parley/", "");
    counts[path] = (counts[path] ?? 0) + 1;
    if (++total > CUTOFF) return new Promise(() => {});
    const body = init.body ? JSON.parse(init.body) : undefined;
    return handlers[path](body, () => `s${++sessions}`);
  };
  return { fetch, counts, total: () => Math.min(total, CUTOFF) };
}

// runFor lets simulated seconds pass in steps, running what each step
// makes ready.
async function runFor(seconds) {
  for (let ms = 0; ms < seconds * 1000; ms += 10) {
    mock.timers.tick(10);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}

const alwaysReset = { reset: { reason: "expired" } };

// Worst case: random() = 0 waits half the cap each time. Over 60 s the caps
// 250, 500, 1000, 2000, 5000 ms and then 10 s allow about 17 attempts.
const SECONDS = 60;
const MAX_SESSIONS = 20;

const cases = [
  {
    name: "every long-poll answers reset",
    transport: "longpoll",
    handlers: {
      session: (_, next) => jsonReply(200, { session: next() }),
      poll: () => jsonReply(200, alwaysReset),
    },
  },
  {
    name: "every event stream answers reset",
    transport: "sse",
    handlers: {
      session: (_, next) => jsonReply(200, { session: next() }),
      sse: () => streamReply(`event: reset\ndata: ${JSON.stringify(alwaysReset.reset)}\n\n`),
    },
  },
  {
    name: "every reply of a passive page resets it",
    transport: "passive",
    subscribe: true,
    handlers: {
      session: (_, next) => jsonReply(200, { session: next() }),
      call: (b) => jsonReply(200, { results: b.calls.map((c) => ({ id: c.id, result: null })), ...alwaysReset }),
    },
  },
  {
    name: "session opens fail after the first",
    transport: "longpoll",
    handlers: {
      session: (_, next) => (next() === "s1" ? jsonReply(200, { session: "s1" }) : refused()),
      poll: () => jsonReply(200, alwaysReset),
    },
  },
  {
    name: "session opens fail after the first, passive",
    transport: "passive",
    subscribe: true,
    handlers: {
      session: (_, next) => (next() === "s1" ? jsonReply(200, { session: "s1" }) : refused()),
      call: (b) => jsonReply(200, { results: b.calls.map((c) => ({ id: c.id, result: null })), ...alwaysReset }),
    },
  },
  {
    name: "session opens fail after the first, streaming",
    transport: "sse",
    handlers: {
      session: (_, next) => (next() === "s1" ? jsonReply(200, { session: "s1" }) : refused()),
      sse: () => streamReply(`event: reset\ndata: ${JSON.stringify(alwaysReset.reset)}\n\n`),
    },
  },
];

for (const c of cases) {
  test(`backoff: ${c.name}`, async (t) => {
    mock.timers.enable({ apis: ["setTimeout", "Date"] });
    t.after(() => mock.timers.reset());
    const net = fakeNetwork(c.handlers);
    const p = createClient({ base: "http://test/parley/", fetch: net.fetch, page: () => "/", random: () => 0 });
    const gaps = [];
    p.on("gap", (g) => gaps.push(g.reason));
    if (c.subscribe) p.subscribe("/news", () => {}).catch(() => {});
    await p.start({ transport: c.transport });
    await runFor(SECONDS);
    p.stop();
    const sessions = net.counts.session ?? 0;
    assert.ok(sessions >= 3, `${sessions} session opens in ${SECONDS} s: the page must keep trying`);
    assert.ok(sessions <= MAX_SESSIONS, `${sessions} session opens in ${SECONDS} s (at most ${MAX_SESSIONS})`);
    assert.ok(net.total() <= 3 * MAX_SESSIONS, `${net.total()} requests in ${SECONDS} s`);
    assert.ok(gaps.length >= 1, "the page learns of the reset");
  });
}

test("backoff: a success resets the pace", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  t.after(() => mock.timers.reset());
  // Five resets, a reply, one more reset, then polls held open.
  const script = [alwaysReset, alwaysReset, alwaysReset, alwaysReset, alwaysReset, { messages: [] }, alwaysReset];
  const net = fakeNetwork({
    session: (_, next) => jsonReply(200, { session: next() }),
    poll: () => (script.length > 0 ? jsonReply(200, script.shift()) : new Promise(() => {})),
  });
  const p = createClient({ base: "http://test/parley/", fetch: net.fetch, page: () => "/", random: () => 0 });
  await p.start({ transport: "longpoll" });
  // The five resets wait 125 + 250 + 500 + 1000 + 2500 ms. After the reply
  // the last reset waits 125 ms again, not 5000.
  await runFor(5);
  p.stop();
  assert.equal(net.counts.session, 7, "after a success the next reset waits the shortest time");
  assert.equal(script.length, 0);
});
