// The chat page: calls the Chat service and receives ChatPage calls.
import parley from "/parley/engine.js";
import { Chat } from "/parley/interface/Chat.js";

const list = document.getElementById("messages");
const errorBox = document.getElementById("error");
let shownUpTo = 0; // the highest message id shown from history

function show(m) {
  const li = document.createElement("li");
  li.dataset.id = String(m.id);
  const who = document.createElement("strong");
  who.textContent = m.author;
  const when = document.createElement("time");
  when.dateTime = m.at;
  when.textContent = new Date(m.at).toLocaleTimeString();
  const text = document.createElement("span");
  text.textContent = m.text;
  li.append(who, " ", when, " ", text);
  list.append(li);
  li.scrollIntoView({ block: "end" });
}

function report(err) {
  errorBox.textContent = err ? `${err.code}: ${err.message}` : "";
}

async function loadHistory() {
  list.replaceChildren();
  const history = await Chat.history();
  history.forEach(show);
  shownUpTo = history.length ? history[history.length - 1].id : 0;
}

parley.expose("ChatPage", {
  addMessage(m) {
    if (m.id > shownUpTo) show(m); // older ones came with the history
  },
});
parley.on("state", (s) => {
  document.getElementById("status").textContent = s;
});
parley.on("gap", () => loadHistory().catch(report));

document.getElementById("name-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await Chat.setName(document.getElementById("name").value);
    report(null);
  } catch (err) {
    report(err);
  }
});

document.getElementById("send-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = document.getElementById("text");
  try {
    await Chat.send(input.value);
    input.value = "";
    report(null);
  } catch (err) {
    report(err);
  }
});

// ?transport=websocket (or sse, longpoll, poll, passive) tries one
// transport alone; "auto" picks the best the browser and network allow.
await parley.start({ transport: new URLSearchParams(location.search).get("transport") ?? "auto" });
await loadHistory();
document.body.dataset.ready = "true";
