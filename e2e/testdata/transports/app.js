import parley from "/parley/engine.js";

// What the page saw, for the test to read.
window.received = [];
window.states = [];
window.gaps = [];
parley.expose("f", (v) => window.received.push(v));
parley.on("state", (s) => window.states.push(s));
parley.on("gap", (g) => window.gaps.push(g.reason));

// Passive pages only receive on call replies: call now and then.
window.tick = () => parley.call("Echo", "echo", ["tick"]).catch(() => {});

const params = new URLSearchParams(location.search);
const transport = params.get("transport") ?? "auto";
await parley.start({ transport, interval: Number(params.get("interval") ?? 100) });
window.parley = parley;
document.body.dataset.session = parley.session;
document.body.dataset.ready = "true";
