// src/main.ts
import parley, { ParleyError } from "/parley/engine.js";
import { Todos } from "/parley/interface/Todos.js";

// src/view.ts
var ListView = class {
  constructor(list, left, actions) {
    this.list = list;
    this.left = left;
    this.actions = actions;
  }
  list;
  left;
  actions;
  rows = /* @__PURE__ */ new Map();
  /** reset shows exactly items. */
  reset(items) {
    this.rows.clear();
    this.list.replaceChildren();
    items.forEach((it) => this.save(it));
  }
  /** save shows item, added or changed; showing it twice changes nothing. */
  save(item) {
    let row = this.rows.get(item.id);
    if (!row) {
      row = this.row(item.id);
      this.rows.set(item.id, row);
      const after = [...this.rows.keys()].filter((id) => id > item.id).sort((a, b) => a - b)[0];
      this.list.insertBefore(row, after === void 0 ? null : this.rows.get(after) ?? null);
    }
    row.classList.toggle("done", item.done);
    row.querySelector("input").checked = item.done;
    row.querySelector("span").textContent = item.text;
    this.count();
  }
  /** remove hides the item id, if shown. */
  remove(id) {
    this.rows.get(id)?.remove();
    this.rows.delete(id);
    this.count();
  }
  row(id) {
    const li = document.createElement("li");
    li.dataset.id = String(id);
    const box = document.createElement("input");
    box.type = "checkbox";
    box.setAttribute("aria-label", "Done");
    box.addEventListener("change", () => this.actions.toggle(id, box.checked));
    const text = document.createElement("span");
    const del = document.createElement("button");
    del.type = "button";
    del.className = "remove";
    del.textContent = "Remove";
    del.addEventListener("click", () => this.actions.remove(id));
    li.append(box, text, del);
    return li;
  }
  count() {
    const left = [...this.rows.values()].filter((r) => !r.classList.contains("done")).length;
    this.left.textContent = `${left} of ${this.rows.size} left`;
  }
};

// src/main.ts
function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}
var form = byId("add-form");
var input = byId("text");
var errorBox = byId("error");
var status = byId("status");
function report(err) {
  if (err === null) errorBox.textContent = "";
  else if (err instanceof ParleyError) errorBox.textContent = `${err.code}: ${err.message}`;
  else errorBox.textContent = String(err);
}
var view = new ListView(byId("items"), byId("left"), {
  toggle: (id, done) => Todos.setDone(id, done).then(() => report(null), report),
  remove: (id) => Todos.remove(id).then(() => report(null), report)
});
var page = {
  saved(item) {
    view.save(item);
  },
  removed(id) {
    view.remove(id);
  }
};
parley.expose("TodoPage", page);
parley.on("state", (s) => {
  status.textContent = s;
  status.dataset.state = s;
});
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
