// The remoting test page: exposes helpers the Go test drives.
import parley, { createClient } from "/parley/engine.js";

const lab = (method, args, options) => parley.call("Lab", method, args, options);
const settle = (p) => p.then((v) => ({ ok: v }), (e) => ({ code: e.code, message: e.message }));

// A call that waits on the server until its context ends; abortWait()
// gives up on it from the page.
let waiting;
window.startWait = () => {
  waiting = new AbortController();
  window.waitOutcome = settle(lab("wait", [], { signal: waiting.signal }));
};
window.abortWait = () => waiting.abort();
window.timedWait = (ms) => settle(lab("wait", [], { timeout: ms }));

// Uploads the file chosen in the input, then fetches the download the
// method returns, twice: the second fetch must fail.
window.uploadChosen = async () => {
  const file = document.getElementById("file").files[0];
  const ref = await lab("upper", [file, "from a file input"]);
  const first = await fetch(ref.url);
  const second = await fetch(ref.url);
  return { ref, body: await first.text(), type: first.headers.get("Content-Type"), again: second.status };
};
window.uploadBlob = async (text) => {
  const ref = await lab("upper", [new Blob([text], { type: "text/plain" }), "from a blob"]);
  return { ref, body: await (await fetch(ref.url)).text() };
};

// Clients whose server is behind a login redirect or a broken proxy.
window.gated = (prefix) => settle(createClient({ base: new URL(prefix, location.href).href }).call("Lab", "echo", [1]));

// DWR style callbacks and an explicit ordered batch.
window.dwr = () => new Promise((resolve) => {
  const seen = [];
  lab("echo", ["cb"], { callback: (v) => seen.push("callback:" + v) });
  lab("fail", [], {
    errorHandler: (msg, err) => {
      seen.push("errorHandler:" + err.code + ":" + msg);
      resolve(seen);
    },
  });
});
window.orderedBatch = () => parley.batch(() => Promise.all([1, 2, 3].map((i) => lab("echo", [i]))), { ordered: true });

document.body.dataset.ready = "true";
