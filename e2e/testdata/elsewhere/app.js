import parley from "/parley/engine.js";

// Every reverse call the page runs, in order.
window.received = [];
parley.expose("ChatPage", { addMessage: (m) => window.received.push(`addMessage:${m.id}`) });
parley.expose("ping", (x) => window.received.push(`ping:${x}`));
await parley.start();
document.body.dataset.ready = "true";
