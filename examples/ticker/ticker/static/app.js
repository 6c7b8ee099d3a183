// The ticker page: subscribes to /stocks/* and shows each quote with its
// age, received by push (Comet) or pull (polling at a fixed interval: 5 s,
// ?pull=MS, or the server's advised interval if that is longer).
import parley from "/parley/engine.js";

const rows = new Map(); // symbol -> {tr, at}
const body = document.querySelector("#quotes tbody");

function cell(tr, text, cls) {
  const td = tr.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function show(q) {
  let row = rows.get(q.symbol);
  if (!row) {
    const tr = document.createElement("tr");
    tr.id = `q-${q.symbol}`;
    row = { tr };
    rows.set(q.symbol, row);
    [...rows.keys()].sort().forEach((s) => body.append(rows.get(s).tr));
  }
  row.at = Date.parse(q.at);
  row.tr.dataset.at = q.at;
  row.tr.dataset.via = parley.transport;
  row.tr.replaceChildren();
  cell(row.tr, q.symbol);
  cell(row.tr, q.price.toFixed(2), "price");
  cell(row.tr, (q.change >= 0 ? "+" : "") + q.change.toFixed(2), q.change >= 0 ? "change up" : "change down");
  cell(row.tr, "", "age");
  showAges();
}

// showAges shows how long ago each price was published.
function showAges() {
  const now = Date.now();
  for (const { tr, at } of rows.values()) {
    tr.querySelector(".age").textContent = `${(Math.max(0, now - at) / 1000).toFixed(1)} s`;
  }
}

function showMode() {
  const t = parley.transport;
  document.getElementById("mode").textContent = t === "poll" ? "pull (polling)" : `push (${t})`;
  document.getElementById("push").classList.toggle("secondary", t === "poll");
  document.getElementById("pull").classList.toggle("secondary", t !== "poll");
}

async function receiveBy(options) {
  parley.stop();
  await parley.start(options);
  showMode();
}

document.getElementById("push").addEventListener("click", () => receiveBy({}));
// Pull polls every 5 s, or every ?pull=MS milliseconds.
const pullEvery = Number(new URLSearchParams(location.search).get("pull")) || 5000;
document.getElementById("pull").addEventListener("click", () => receiveBy({ transport: "poll", interval: pullEvery }));
parley.on("transport", showMode);
setInterval(showAges, 250);

await parley.start();
await parley.subscribe("/stocks/*", show);
showMode();
document.body.dataset.ready = "true";
