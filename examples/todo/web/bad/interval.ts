// tsc must refuse this file: the polling interval is a number of milliseconds.
import parley from "/parley/engine.js";

await parley.start({ transport: "poll", interval: "5s" });
