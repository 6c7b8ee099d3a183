// tsc must refuse this file: Todos.add takes the item's text.
import { Todos } from "/parley/interface/Todos.js";

await Todos.add(42);
