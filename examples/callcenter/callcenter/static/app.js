// The supervisor's page: the queue arrives by reverse calls to
// updateCallers; counts, marks and the supervisor's own calls arrive by
// the server's DOM helpers.
import parley from "/parley/engine.js";
import { Supervisor } from "/parley/interface/Supervisor.js";

const queue = document.getElementById("queue");
const errorBox = document.getElementById("error");

function report(err) {
  errorBox.textContent = err ? `${err.code}: ${err.message}` : "";
}

// skew is the server's clock minus this page's, from the last push, so
// that the waiting times count from the server's time.
let skew = 0;

// showWaited shows how long each waiting call has waited, in whole
// seconds. It runs every second, so the times tick between pushes.
function showWaited() {
  const now = Date.now() + skew;
  for (const el of queue.querySelectorAll(".waited")) {
    const waited = Math.max(0, Math.floor((now - Number(el.dataset.arrived)) / 1000));
    el.textContent = `waiting ${waited}s`;
  }
}

// updateCallers shows the waiting calls, each with a button to take it.
// It is called by the server (DWR style), with the server's time, and
// after loading.
function updateCallers(calls, now) {
  if (now) skew = Date.parse(now) - Date.now();
  queue.replaceChildren(...(calls ?? []).map((c) => {
    const li = document.createElement("li");
    li.dataset.id = String(c.id);
    const who = document.createElement("span");
    who.className = "caller";
    who.textContent = c.caller;
    const waited = document.createElement("span");
    waited.className = "waited";
    waited.dataset.arrived = String(Date.parse(c.arrived));
    const take = document.createElement("button");
    take.type = "button";
    take.textContent = "Take";
    take.addEventListener("click", () => Supervisor.take(c.id).then(() => report(null), report));
    li.append(who, waited, take);
    return li;
  }));
  showWaited();
}

parley.expose("updateCallers", updateCallers);
setInterval(showWaited, 1000);
parley.on("state", (s) => {
  document.getElementById("status").textContent = s;
});
parley.on("gap", () => Supervisor.queue().then((q) => updateCallers(q), report));

document.getElementById("sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await Supervisor.signIn(document.getElementById("name").value);
    report(null);
  } catch (err) {
    report(err);
  }
});

// A click on one of my calls finishes it; the server removes its row.
document.getElementById("mine").addEventListener("click", (e) => {
  const row = e.target.closest("tbody tr");
  if (row?.id.startsWith("mine-")) Supervisor.finish(Number(row.id.slice(5))).then(() => report(null), report);
});

await parley.start();
const waiting = await Supervisor.queue();
updateCallers(waiting);
document.getElementById("waiting").textContent = String(waiting.length);
document.body.dataset.ready = "true";
