// tsc must refuse this file: "carrier-pigeon" is no transport of the runtime.
import parley from "/parley/engine.js";

await parley.start({ transport: "carrier-pigeon" });
