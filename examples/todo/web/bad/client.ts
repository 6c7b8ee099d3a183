// tsc must refuse this file: a TodoPage must implement removed too.
import parley from "/parley/engine.js";
import type { Item, TodoPage } from "/parley/interface/Todos.js";

const page: TodoPage = {
  saved(item: Item): void {
    console.log(item.text);
  },
};
parley.expose("TodoPage", page);
