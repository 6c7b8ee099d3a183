// tsc must refuse this file: "websocket" is no transport of the runtime.
import parley from "/parley/engine.js";

await parley.start({ transport: "websocket" });
