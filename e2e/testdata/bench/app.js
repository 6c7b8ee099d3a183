import parley from "/parley/engine.js";

const call = (method, args) => parley.call("Bench", method, args);

// ping(i) answers each reverse call at once with a call back.
parley.expose("ping", (i) => call("pong", [i]));

// timeRuns runs once n times in a row and returns each run's milliseconds.
window.timeRuns = async (n, once) => {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once(i);
    out.push(performance.now() - t0);
  }
  return out;
};
window.parleyEcho = (i) => call("echo", [{ i, text: "hello" }]);
window.plainEcho = (i) =>
  fetch("/plain", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ i, text: "hello" }) })
    .then((r) => r.json());

await parley.start();
document.body.dataset.session = parley.session;
document.body.dataset.ready = "true";
