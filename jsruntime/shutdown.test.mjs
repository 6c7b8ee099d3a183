// How the runtime follows a server's notice that it is shutting down, on
// simulated time: node --test
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "./engine.js";
import { jsonReply, streamReply } from "./fakes.mjs";

// never is a request that is not answered.
const never = () => new Promise(() => {});

async function runFor(ms) {
  for (let at = 0; at < ms; at += 10) {
    mock.timers.tick(10);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}

// page starts a page whose requests fetch answers, recording each
// request (its path, when it was made, and its body or headers), the
// functions run and the gaps.
async function page(t, transport, fetch) {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  t.after(() => mock.timers.reset());
  const requests = [];
  const p = createClient({
    base: "http://test/parley/",
    page: () => "/",
    random: () => 0.5,
    fetch: async (url, init) => {
      const path = new URL(url).pathname.replace("/parley/", "");
      const r = { path, at: Date.now(), url: String(url), init, body: init.body ? JSON.parse(init.body) : undefined };
      requests.push(r);
      return fetch(r, requests.filter((q) => q.path === path).length);
    },
  });
  const ran = [];
  const gaps = [];
  p.expose("note", (x) => ran.push(x));
  p.on("gap", (g) => gaps.push(g.reason));
  t.after(() => p.stop());
  await p.start({ transport });
  return { p, requests, ran, gaps };
}

test("sse: a shutdown event ends the stream; the page resumes after a jittered delay, without a gap", async (t) => {
  let closedAt = 0;
  const { p, requests, ran, gaps } = await page(t, "sse", (r, n) => {
    if (r.path === "session") return jsonReply(200, { session: "s1" });
    if (r.path === "sse" && n === 1) {
      closedAt = Date.now();
      return streamReply(
        "retry: 1000\nevent: open\ndata: {}\n\n" +
          'id: 1\ndata: {"seq":1,"fn":"note","args":["before"]}\n\n' +
          'retry: 1000\nevent: shutdown\ndata: {"reconnect":1000}\n\n',
      );
    }
    return never();
  });
  await runFor(3000);
  assert.deepEqual(ran, ["before"], "the messages before the notice run, once");
  assert.deepEqual(gaps, [], "a shutdown is not a gap while the session lives");
  const streams = requests.filter((r) => r.path === "sse");
  assert.equal(streams.length, 2, "one reconnect, not a loop");
  assert.equal(requests.filter((r) => r.path === "session").length, 1, "the session is kept");
  assert.ok(streams[1].url.includes("session=s1"));
  assert.equal(streams[1].init.headers["Last-Event-ID"], "1", "the page resumes after what it ran");
  // random() is 0.5: half the delay plus half of the other half.
  assert.ok(streams[1].at - closedAt >= 750 && streams[1].at - closedAt < 800, `reconnected after ${streams[1].at - closedAt} ms`);
  assert.equal(p.transport, "sse", "a shutdown is no fault of the stream");
});

test("longpoll: a shutdown reply delivers its messages; a server that does not know the session resets it with the reason shutdown", async (t) => {
  const { requests, ran, gaps } = await page(t, "longpoll", (r, n) => {
    if (r.path === "session") return jsonReply(200, { session: `s${n}` });
    if (r.path === "poll" && n === 1) {
      return jsonReply(200, { messages: [{ seq: 1, fn: "note", args: ["pending"] }], shutdown: { reconnect: 2000 } });
    }
    if (r.path === "poll" && n === 2) return jsonReply(200, { reset: { reason: "expired" } });
    return never();
  });
  await runFor(5000);
  assert.deepEqual(ran, ["pending"]);
  const polls = requests.filter((r) => r.path === "poll");
  assert.equal(polls.length, 3);
  assert.deepEqual(polls[1].body, { session: "s1", ack: 1 }, "the page comes back with its session and ack");
  assert.ok(polls[1].at - polls[0].at >= 1500 && polls[1].at - polls[0].at < 1600, `reconnected after ${polls[1].at - polls[0].at} ms`);
  assert.deepEqual(gaps, ["shutdown"], "the lost session is reported, with why");
  assert.equal(polls[2].body.session, "s2", "a fresh session");
});

test("longpoll: a reset that does not follow a shutdown keeps its reason", async (t) => {
  const { gaps } = await page(t, "longpoll", (r, n) => {
    if (r.path === "session") return jsonReply(200, { session: `s${n}` });
    if (r.path === "poll" && n === 1) return jsonReply(200, { messages: [{ seq: 1, fn: "note", args: ["x"] }] });
    if (r.path === "poll" && n === 2) return jsonReply(200, { reset: { reason: "expired" } });
    return never();
  });
  await runFor(3000);
  assert.deepEqual(gaps, ["expired"]);
});
