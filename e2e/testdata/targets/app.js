// A test page for reverse-call targets, pub/sub, Invoke and the DOM
// helpers. It records what reaches it in window.received and
// window.published.
import parley from "/parley/engine.js";

window.parley = parley;
window.received = [];
window.published = [];
window.errors = [];

parley.expose("note", (x) => window.received.push(x));
parley.expose("Probe", {
  ask(x) {
    return { tab: sessionStorage.getItem("tab"), x };
  },
  async later(x) {
    await new Promise((r) => setTimeout(r, 5));
    return x * 2;
  },
  fails() {
    throw new RangeError("out of range here");
  },
  never() {
    return new Promise(() => {});
  },
});
parley.on("error", (e) => window.errors.push(String(e.message)));

// service calls the test's Targets service.
window.service = (method, ...args) => parley.call("Targets", method, args);
window.subscribe = (pattern) =>
  parley.subscribe(pattern, (data, topic) => window.published.push(`${pattern}|${topic}|${JSON.stringify(data)}`));

await parley.start({ transport: "longpoll" });
document.body.dataset.ready = "true";
