import type { Item } from "/parley/interface/Todos.js";

/** What the list's controls do. */
export interface Actions {
  toggle(id: number, done: boolean): void;
  remove(id: number): void;
}

/** ListView shows the items in a list element, in id order. */
export class ListView {
  private readonly rows = new Map<number, HTMLLIElement>();

  constructor(
    private readonly list: HTMLUListElement,
    private readonly left: HTMLElement,
    private readonly actions: Actions,
  ) {}

  /** reset shows exactly items. */
  reset(items: Item[]): void {
    this.rows.clear();
    this.list.replaceChildren();
    items.forEach((it) => this.save(it));
  }

  /** save shows item, added or changed; showing it twice changes nothing. */
  save(item: Item): void {
    let row = this.rows.get(item.id);
    if (!row) {
      row = this.row(item.id);
      this.rows.set(item.id, row);
      const after = [...this.rows.keys()].filter((id) => id > item.id).sort((a, b) => a - b)[0];
      this.list.insertBefore(row, after === undefined ? null : (this.rows.get(after) ?? null));
    }
    row.classList.toggle("done", item.done);
    row.querySelector("input")!.checked = item.done;
    row.querySelector("span")!.textContent = item.text;
    this.count();
  }

  /** remove hides the item id, if shown. */
  remove(id: number): void {
    this.rows.get(id)?.remove();
    this.rows.delete(id);
    this.count();
  }

  private row(id: number): HTMLLIElement {
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

  private count(): void {
    const left = [...this.rows.values()].filter((r) => !r.classList.contains("done")).length;
    this.left.textContent = `${left} of ${this.rows.size} left`;
  }
}
