// How the runtime reads a stream that the server refuses with an error
// event (the shape every SSE failure has), on simulated time: node --test
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "./engine.js";
import { jsonReply, streamReply } from "./fakes.mjs";

// failedStream is the reply to a stream the server cannot serve: one
// error event carrying the error, then the end.
function failedStream(code) {
  return streamReply(`retry: 5000\nevent: error\ndata: ${JSON.stringify({ code, message: "refused" })}\n\n`);
}

async function runFor(seconds) {
  for (let ms = 0; ms < seconds * 1000; ms += 10) {
    mock.timers.tick(10);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}

// streamWith runs a streaming page for a few simulated seconds against a
// server whose every stream fails with code, and counts what it did.
async function streamWith(t, code) {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  t.after(() => mock.timers.reset());
  const counts = { session: 0, sse: 0 };
  const fetch = async (url) => {
    const path = new URL(url).pathname.replace("/parley/", "");
    counts[path] = (counts[path] ?? 0) + 1;
    if (counts[path] > 200) return new Promise(() => {});
    return path === "session" ? jsonReply(200, { session: `s${counts.session}` }) : failedStream(code);
  };
  const p = createClient({ base: "http://test/parley/", fetch, page: () => "/", random: () => 0 });
  const gaps = [];
  p.on("gap", (g) => gaps.push(g.reason));
  await p.start({ transport: "sse" });
  await runFor(5);
  p.stop();
  return { counts, gaps };
}

test("sse: an error event refusing the session ends it, as a reset does", async (t) => {
  const { counts, gaps } = await streamWith(t, "permission_denied");
  assert.ok(counts.session >= 2, `${counts.session} session opens: the page opens a fresh session`);
  assert.ok(gaps.length >= 1 && gaps.every((g) => g === "expired"), `gaps ${gaps}`);
  assert.ok(counts.sse <= 20, `${counts.sse} streams in 5 s: the page backs off`);
});

test("sse: an error event that is not about the session keeps it", async (t) => {
  const { counts, gaps } = await streamWith(t, "unavailable");
  assert.equal(counts.session, 1, "the session is kept");
  assert.deepEqual(gaps, []);
  assert.ok(counts.sse >= 2, "the page tries the stream again");
  assert.ok(counts.sse <= 20, `${counts.sse} streams in 5 s: the page backs off`);
});
