// The to-do page: calls the Todos service and receives TodoPage calls.
// The imports name the URLs the server serves; tsconfig.json maps them to
// the declarations parleygen writes, and the bundle leaves them to the
// browser.
import parley, { ParleyError, type State } from "/parley/engine.js";
import { Todos, type Item, type TodoPage } from "/parley/interface/Todos.js";
import { ListView } from "./view.js";

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

const form = byId<HTMLFormElement>("add-form");
const input = byId<HTMLInputElement>("text");
const errorBox = byId<HTMLParagraphElement>("error");
const status = byId<HTMLSpanElement>("status");

function report(err: unknown): void {
  if (err === null) errorBox.textContent = "";
  else if (err instanceof ParleyError) errorBox.textContent = `${err.code}: ${err.message}`;
  else errorBox.textContent = String(err);
}

const view = new ListView(byId<HTMLUListElement>("items"), byId<HTMLSpanElement>("left"), {
  toggle: (id, done) => Todos.setDone(id, done).then(() => report(null), report),
  remove: (id) => Todos.remove(id).then(() => report(null), report),
});

const page: TodoPage = {
  saved(item: Item): void {
    view.save(item);
  },
  removed(id: number): void {
    view.remove(id);
  },
};
parley.expose("TodoPage", page);
parley.on("state", (s: State) => {
  status.textContent = s;
  status.dataset.state = s;
});
// A lost session may have missed changes: load the whole list again.
parley.on("gap", () => {
  Todos.list().then((items) => view.reset(items), report);
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    view.save(await Todos.add(input.value));
    input.value = "";
    report(null);
  } catch (err) {
    report(err);
  }
});

await parley.start();
view.reset(await Todos.list());
document.body.dataset.ready = "true";
