// Parley runtime: remoting and reverse Ajax for the browser.
//
// Import it as an ES module from the server: `import parley from
// "/parley/engine.js"`. Generated service modules import it too, so a page
// shares one client. It uses no eval and no new Function: reverse calls
// arrive as data (a function name and JSON arguments) and are looked up
// among what the page exposed.

/** An error from a call: `code` is one of Parley's error codes. */
export class ParleyError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = "ParleyError";
    this.code = code;
    this.details = details;
  }
}

/**
 * Options of one call, the last argument of every generated stub.
 * @typedef {object} CallOptions
 * @property {number} [timeout] milliseconds to wait for the reply before
 *   rejecting with deadline_exceeded
 * @property {AbortSignal} [signal] rejects the call with canceled when aborted
 * @property {Record<string, string>} [headers] extra HTTP headers for the
 *   request; calls with different headers go in different requests
 */

const POLL_BACKOFF_MS = [250, 500, 1000, 2000, 5000, 10000];

/**
 * createClient returns an independent Parley client. Pages use the default
 * export; tests and embedders pass their own `fetch`, `base` URL (the
 * server's prefix, ending in "/") and `page` (a function returning the
 * page's path).
 */
export function createClient({
  base,
  fetch: fetchFn = (...a) => globalThis.fetch(...a),
  page = () => globalThis.location?.pathname ?? "/",
  random = Math.random,
} = {}) {
  const exposed = new Map();
  const listeners = new Map();
  let queue = new Map(); // headers key -> {headers, calls}
  let flushing = false;
  let nextId = 1;
  let session = "";
  let lastSeq = 0;
  let state = "idle";
  let running = false;
  let passive = false;
  let opening = null;
  let pollAbort = null;

  function on(type, fn) {
    if (!listeners.has(type)) listeners.set(type, new Set());
    listeners.get(type).add(fn);
    return () => listeners.get(type).delete(fn);
  }

  function emit(type, detail) {
    for (const fn of listeners.get(type) ?? []) {
      try {
        fn(detail);
      } catch (err) {
        console.error("parley: listener for", type, "threw", err);
      }
    }
  }

  function setState(s) {
    if (s === state) return;
    state = s;
    emit("state", s);
  }

  /**
   * expose registers what the server may call: a function under a name
   * (`expose("updateCallers", fn)`), or an object whose methods are called
   * as NAME.method (`expose("ChatPage", { addMessage(m) {} })`).
   */
  function expose(name, target) {
    if (typeof name !== "string" || name === "") throw new TypeError("parley.expose: name must be a non-empty string");
    if (typeof target !== "function" && (typeof target !== "object" || target === null)) {
      throw new TypeError("parley.expose: expose a function or an object");
    }
    exposed.set(name, target);
  }

  function lookup(fn) {
    const direct = exposed.get(fn);
    if (typeof direct === "function") return [direct, undefined];
    const dot = fn.lastIndexOf(".");
    if (dot <= 0) return null;
    const obj = exposed.get(fn.slice(0, dot));
    const method = fn.slice(dot + 1);
    if (typeof obj !== "object" || method in Object.prototype) return null;
    return typeof obj[method] === "function" ? [obj[method], obj] : null;
  }

  function run(fn, args) {
    const found = lookup(fn);
    if (!found) {
      console.warn("parley: the server called", fn, "which this page does not expose");
      emit("error", new ParleyError("not_found", `no exposed function ${fn}`));
      return;
    }
    try {
      found[0].apply(found[1], Array.isArray(args) ? args : []);
    } catch (err) {
      console.error("parley: exposed function", fn, "threw", err);
      emit("error", err);
    }
  }

  // deliver runs the messages of a reply for session `from`, in sequence
  // order, skipping those already run. A reset ends the session.
  function deliver(reply, from) {
    if (from !== session || !session) return;
    if (reply.reset) {
      reset(reply.reset.reason);
      return;
    }
    for (const m of reply.messages ?? []) {
      if (m.seq <= lastSeq) continue; // a duplicate: already run
      if (m.seq !== lastSeq + 1) emit("gap", { reason: "sequence", from: lastSeq + 1, to: m.seq - 1 });
      lastSeq = m.seq;
      run(m.fn, m.args);
    }
  }

  function reset(reason) {
    session = "";
    lastSeq = 0;
    emit("gap", { reason });
    if (running) ensureSession().catch(() => {});
  }

  async function post(path, body, signal, headers) {
    let res;
    try {
      res = await fetchFn(new URL(path, base), {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json", "X-Parley": "1" },
        credentials: "same-origin",
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (err?.name === "AbortError") throw new ParleyError("canceled", "request aborted");
      throw new ParleyError("unavailable", `network error: ${err?.message ?? err}`);
    }
    let data;
    if ((res.headers.get("Content-Type") ?? "").startsWith("application/json")) {
      try {
        data = await res.json();
      } catch {
        data = undefined;
      }
    }
    if (data === undefined || data === null || typeof data !== "object") {
      throw new ParleyError("unavailable", `not a Parley reply (HTTP ${res.status})`);
    }
    if (data.error) throw toError(data.error);
    return data;
  }

  function toError(e) {
    return new ParleyError(String(e.code ?? "unknown"), String(e.message ?? ""), e.details);
  }

  /**
   * call sends one call; calls made in the same tick with the same headers
   * go in one request. It returns a Promise of the method's result that
   * rejects with a ParleyError.
   * @param {string} service
   * @param {string} method
   * @param {unknown[]} [args]
   * @param {CallOptions} [options]
   */
  function call(service, method, args = [], options = {}) {
    return new Promise((resolve, reject) => {
      const { timeout, signal, headers } = options ?? {};
      if (signal?.aborted) {
        reject(new ParleyError("canceled", "call canceled"));
        return;
      }
      let timer;
      const settle = (fn) => (v) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        fn(v);
      };
      const c = { id: nextId++, service, method, args, resolve: settle(resolve), reject: settle(reject) };
      const onAbort = () => c.reject(new ParleyError("canceled", "call canceled"));
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeout > 0) timer = setTimeout(() => c.reject(new ParleyError("deadline_exceeded", `no reply within ${timeout} ms`)), timeout);

      const key = headers ? JSON.stringify(headers) : "";
      if (!queue.has(key)) queue.set(key, { headers, calls: [] });
      queue.get(key).calls.push(c);
      if (!flushing) {
        flushing = true;
        queueMicrotask(flush);
      }
    });
  }

  function flush() {
    flushing = false;
    const batches = [...queue.values()];
    queue = new Map();
    for (const b of batches) sendBatch(b.calls, b.headers);
  }

  async function sendBatch(batch, headers) {
    const from = session;
    let reply;
    try {
      reply = await post("call", {
        session: from,
        ack: lastSeq,
        calls: batch.map(({ id, service, method, args }) => ({ id, service, method, args })),
      }, undefined, headers);
    } catch (err) {
      for (const c of batch) c.reject(err);
      return;
    }
    deliver(reply, from);
    const results = new Map((reply.results ?? []).map((r) => [r.id, r]));
    for (const c of batch) {
      const r = results.get(c.id);
      if (!r) c.reject(new ParleyError("internal", "the reply has no result for this call"));
      else if (r.error) c.reject(toError(r.error));
      else c.resolve(r.result);
    }
  }

  function ensureSession() {
    if (session) return Promise.resolve();
    if (!opening) {
      setState("connecting");
      opening = post("session", { page: page() })
        .then((r) => {
          session = r.session;
          lastSeq = 0;
        })
        .finally(() => {
          opening = null;
        });
    }
    return opening;
  }

  async function pollLoop() {
    let failures = 0;
    while (running && !passive) {
      try {
        await ensureSession();
        const from = session;
        pollAbort = new AbortController();
        const reply = await post("poll", { session: from, ack: lastSeq }, pollAbort.signal);
        failures = 0;
        setState("connected");
        deliver(reply, from);
      } catch (err) {
        if (!running) break;
        if (err.code === "permission_denied" && session) reset("expired");
        failures++;
        setState("reconnecting");
        const cap = POLL_BACKOFF_MS[Math.min(failures - 1, POLL_BACKOFF_MS.length - 1)];
        await new Promise((r) => setTimeout(r, cap / 2 + random() * (cap / 2)));
      }
    }
  }

  /**
   * start opens the page's script session and begins receiving reverse
   * calls. transport "longpoll" (the default) holds a request open for
   * them; "passive" takes them only on the replies to calls.
   */
  async function start({ transport = "longpoll" } = {}) {
    if (running) return;
    if (transport !== "longpoll" && transport !== "passive") {
      throw new ParleyError("invalid_argument", `unknown transport ${transport}`);
    }
    running = true;
    passive = transport === "passive";
    await ensureSession();
    setState("connected");
    if (!passive) pollLoop();
  }

  /** stop ends reverse Ajax for the page; calls still work. */
  function stop() {
    running = false;
    pollAbort?.abort();
    setState("idle");
  }

  return {
    call,
    expose,
    start,
    stop,
    on,
    get state() {
      return state;
    },
    get session() {
      return session;
    },
    ParleyError,
  };
}

const parley = createClient({ base: new URL(".", import.meta.url).href });
export default parley;
