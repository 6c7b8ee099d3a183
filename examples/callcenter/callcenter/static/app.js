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

// updateCallers shows the waiting calls, each with a button to take it.
// It is called by the server (DWR style) and after loading.
function updateCallers(calls, now) {
  const at = now ? new Date(now) : new Date();
  queue.replaceChildren(...(calls ?? []).map((c) => {
    const li = document.createElement("li");
    li.dataset.id = String(c.id);
    const who = document.createElement("span");
    who.className = "caller";
    who.textContent = c.caller;
    const waited = Math.max(0, Math.round((at - new Date(c.arrived)) / 1000));
    const take = document.createElement("button");
    take.textContent = "Take";
    take.addEventListener("click", () => Supervisor.take(c.id).then(() => report(null), report));
    li.append(who, ` waiting ${waited}s`, take);
    return li;
  }));
}

parley.expose("updateCallers", updateCallers);
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
