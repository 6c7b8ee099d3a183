// tsc must refuse this file: start() has no option "retries".
import parley from "/parley/engine.js";

await parley.start({ retries: 3 });
