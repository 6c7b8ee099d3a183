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

/**
 * CallOptions in DWR style (engine.d.ts declares them exactly): at least
 * one of callback and errorHandler, and the returned Promise resolves to
 * undefined after them.
 * @typedef {object} CallbackOptions
 * @property {number} [timeout]
 * @property {AbortSignal} [signal]
 * @property {Record<string, string>} [headers]
 * @property {(result: unknown) => void} [callback] called with the result
 *   instead of resolving the returned Promise
 * @property {(message: string, error: ParleyError) => void} [errorHandler]
 *   called on failure instead of rejecting
 */

const BACKOFF_MS = [250, 500, 1000, 2000, 5000, 10000];
// The most a page waits before it reconnects after a server's shutdown
// notice that names no delay.
const SHUTDOWN_RECONNECT_MS = 2000;
const TRANSPORTS = ["auto", "websocket", "sse", "longpoll", "poll", "passive"];
// The held transports "auto" tries, best first.
const COMETS = ["websocket", "sse", "longpoll"];
// A streaming page acknowledges what it has run on its next request; when
// none comes, ACK_DELAY_MS after the first message left unacknowledged
// (SSE: a POST ack; WebSocket: an ack frame), or at once
// when ACK_MAX_MESSAGES messages or ACK_MAX_BYTES of data are
// (PROTOCOL.md, "Acknowledgements").
const ACK_DELAY_MS = 5000;
const ACK_MAX_MESSAGES = 100;
const ACK_MAX_BYTES = 64 * 1024;
const MIN_STREAM_MS = 1000;
// How long the choice of "auto" is remembered, and under what key.
const REMEMBER_MS = 24 * 60 * 60 * 1000;
const REMEMBER_PREFIX = "parley:transport:";
// A call batch whose frame would be larger than the server's default body
// limit goes by POST call, which refuses it with a clear error.
const WS_FRAME_LIMIT = 1 << 20;
// WebSocket readyState values.
const WS_OPEN = 1;
const WS_CLOSING = 2;
// A browser's tabs share one held connection (PROTOCOL.md, "One held
// connection per browser"): the most sessions one connection names, how
// long a leader holding a long-poll waits for the other tabs to
// acknowledge what it passed on before it polls again, and how many held
// connections a page that cannot share finds already open before it polls
// instead of holding one more (browsers allow 6 per host over HTTP/1.1).
const MUX_MAX_SESSIONS = 100;
const PEER_ACK_WAIT_MS = 500;
const HELD_LIMIT = 4;

// The service the runtime calls for subscriptions and Invoke results, and
// the prefix of the functions it implements itself (which pages cannot
// expose).
const BUILTIN = "$parley";
const RESERVED = "parley";

/**
 * topicMatches reports whether a Bayeux-style pattern matches a topic:
 * "*" stands for one segment, a final "**" for one or more.
 */
export function topicMatches(pattern, topic) {
  const p = pattern.split("/");
  const t = topic.split("/");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "**" && i === p.length - 1) return t.length > i;
    if (i >= t.length || (p[i] !== "*" && p[i] !== t[i])) return false;
  }
  return p.length === t.length;
}

// DOM helpers the server applies by name (reverse/dom.go): each acts on
// every element matching a selector. Text is set as text; only setHTML
// parses markup.
function eachElement(selector, fn) {
  for (const el of globalThis.document.querySelectorAll(selector)) fn(el);
}
const DOM_HELPERS = {
  setText(selector, text) {
    eachElement(selector, (el) => { el.textContent = String(text ?? ""); });
  },
  setValue(selector, value) {
    eachElement(selector, (el) => { if ("value" in el) el.value = String(value ?? ""); });
  },
  setHTML(selector, html) {
    eachElement(selector, (el) => { el.innerHTML = String(html ?? ""); });
  },
  addClass(selector, classes) {
    eachElement(selector, (el) => el.classList.add(...(classes ?? [])));
  },
  removeClass(selector, classes) {
    eachElement(selector, (el) => el.classList.remove(...(classes ?? [])));
  },
  remove(selector) {
    eachElement(selector, (el) => el.remove());
  },
  addRows(selector, rows) {
    eachElement(selector, (el) => {
      const body = el.tagName === "TABLE" ? (el.tBodies[0] ?? el.createTBody()) : el;
      for (const row of rows ?? []) {
        const tr = globalThis.document.createElement("tr");
        if (row.id) tr.id = String(row.id);
        for (const cell of row.cells ?? []) {
          const td = globalThis.document.createElement("td");
          td.textContent = String(cell);
          tr.append(td);
        }
        body.append(tr);
      }
    });
  },
  removeRows(selector) {
    eachElement(selector, (el) => {
      for (const body of el.tagName === "TABLE" ? [...el.tBodies] : [el]) body.replaceChildren();
    });
  },
};

// errorOutcome turns what an invoked function threw into what the server
// receives: {error: {name, message}}.
function errorOutcome(err) {
  if (err instanceof Error) return { error: { name: err.name, message: err.message } };
  return { error: { name: "", message: String(err) } };
}

/**
 * createClient returns an independent Parley client. Pages use the default
 * export; tests and embedders pass their own `fetch`, `WebSocket` (a
 * class; null for none), `storage` (where "auto" remembers its choice, a
 * Storage; null for none), `base` URL (the server's prefix, ending in "/")
 * and `page` (a function returning the page's path), and the Web Locks
 * manager (`locks`, navigator.locks by default) and `BroadcastChannel`
 * class the tabs of a browser share their held connection with (null for
 * none: each tab then holds its own).
 */
export function createClient({
  base,
  fetch: fetchFn = (...a) => globalThis.fetch(...a),
  WebSocket: WebSocketClass = globalThis.WebSocket,
  storage: storageOption,
  page = () => globalThis.location?.pathname ?? "/",
  random = Math.random,
  sseOpenTimeout = 3000,
  wsOpenTimeout = 5000,
  locks = globalThis.navigator?.locks,
  BroadcastChannel: ChannelClass = globalThis.BroadcastChannel,
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
  let opening = null;
  // Transports: what start() asked for, what is in use, and their state.
  let preferred = "auto";
  let current = "";
  let interval = 5000; // between polls: the server's advice, or the page's own if slower
  let ownInterval = 0; // what start() asked for
  let loops = 0; // bumped by start(), so an old receive loop knows to end
  let advisedPoll = false;
  // skipped holds the held transports "auto" passes over: those that
  // failed on this page, and those above the remembered choice.
  const skipped = new Set();
  let inFlight = null;
  // failures counts the network failures, failed session opens and resets
  // since the last success; it sets how long backoff() waits.
  let failures = 0;
  let reopening = false;
  // leaving is set while the page comes back from a server that said it
  // was shutting down: a reset that follows is reported as "shutdown".
  let leaving = false;
  // acked is the highest seq a request has carried to the server since the
  // session opened; unackedBytes counts the event data run since.
  let acked = 0;
  let unackedBytes = 0;
  let ackTimer = null;
  let listening = false;
  let resumeOnShow = false;
  const wakers = new Set();
  // Sharing: whether start() allows it, this tab's role ("" when it holds
  // its own connection or none, "leader" when it holds the browser's
  // shared one, "follower" when the leader holds it), the channel to the
  // other tabs, the lock request a follower waits in, and the transport
  // the leader reported.
  let share = true;
  let role = "";
  let channel = null;
  let lockWait = null;
  let abdicate = null; // lets the lock go while this tab leads (onFreeze)
  let frozeLeading = false; // this tab led when it was frozen
  let sharedTransport = "";
  // told is the ack a follower last told the leader.
  let told = 0;
  const tab = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
  const shareName = "parley:" + new URL(base).href;
  // peers are the other tabs' sessions: session -> {tab, ran (the highest
  // seq the tab ran), sent (the ack this tab sent for it while leader),
  // bytes (the data passed on since)}. Every tab keeps them, so that the
  // next leader knows every session.
  const peers = new Map();
  let muxAckTimer = null;
  const peerWaiters = new Set();

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
    if (role === "leader") tell({ t: "state", state, transport: current });
  }

  /**
   * expose registers what the server may call: a function under a name
   * (`expose("updateCallers", fn)`), or an object whose methods are called
   * as NAME.method (`expose("ChatPage", { addMessage(m) {} })`).
   */
  function expose(name, target) {
    if (typeof name !== "string" || name === "") throw new TypeError("parley.expose: name must be a non-empty string");
    if (name === RESERVED || name.startsWith(RESERVED + ".")) throw new TypeError(`parley.expose: ${name} is reserved for the runtime`);
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

  // run runs one reverse call. With an invocation id, what the function
  // returns (or its Promise settles to, or it throws) goes back to the
  // server through the built-in service.
  function run(fn, args, invoke) {
    args = Array.isArray(args) ? args : [];
    if (fn.startsWith(RESERVED + ".")) {
      runBuiltin(fn, args);
      return;
    }
    const found = lookup(fn);
    if (!found) {
      console.warn("parley: the server called", fn, "which this page does not expose");
      const err = new ParleyError("not_found", `no exposed function ${fn}`);
      emit("error", err);
      if (invoke) answer(invoke, errorOutcome(err));
      return;
    }
    let out;
    try {
      out = found[0].apply(found[1], args);
    } catch (err) {
      if (invoke) {
        answer(invoke, errorOutcome(err));
        return;
      }
      console.error("parley: exposed function", fn, "threw", err);
      emit("error", err);
      return;
    }
    if (invoke) {
      Promise.resolve(out).then(
        (value) => answer(invoke, { value: value === undefined ? null : value }),
        (err) => answer(invoke, errorOutcome(err)),
      );
    }
  }

  // answer posts the outcome of an invocation. A value JSON cannot carry
  // becomes an error.
  function answer(invoke, outcome) {
    if ("value" in outcome) {
      try {
        JSON.stringify(outcome.value);
      } catch (err) {
        outcome = { error: { name: "TypeError", message: `the result cannot be sent as JSON: ${err.message}` } };
      }
    }
    call(BUILTIN, "result", [invoke, outcome]).catch((err) => emit("error", err));
  }

  // runBuiltin runs a function the runtime implements: a publication to
  // the page's subscribers, or a DOM helper.
  function runBuiltin(fn, args) {
    try {
      if (fn === RESERVED + ".publish") {
        publish(args[0], args[1]);
        return;
      }
      const helper = fn.startsWith(RESERVED + ".dom.") ? fn.slice(RESERVED.length + 5) : "";
      if (!Object.hasOwn(DOM_HELPERS, helper)) throw new ParleyError("not_found", `no runtime function ${fn}`);
      DOM_HELPERS[helper](...args);
    } catch (err) {
      console.error("parley: runtime function", fn, "failed", err);
      emit("error", err);
    }
  }

  // Subscriptions: pattern -> {fns, ready}. They are registered with the
  // server for the current session, and again for every new one.
  const subscriptions = new Map();
  let awaitingSession = []; // [resolve, reject] of registrations to make on the next session

  function nextRegistration() {
    return new Promise((resolve, reject) => awaitingSession.push([resolve, reject]));
  }

  // sessionOpened registers every subscription for a new session.
  function sessionOpened() {
    const waiting = awaitingSession;
    awaitingSession = [];
    const patterns = [...subscriptions.keys()];
    const done = patterns.length ? call(BUILTIN, "subscribe", [patterns]) : Promise.resolve();
    done.then(
      () => waiting.forEach(([resolve]) => resolve()),
      (err) => {
        waiting.forEach(([, reject]) => reject(err));
        emit("error", err);
      },
    );
  }

  /**
   * subscribe calls fn(data, topic) for everything the server publishes to
   * a topic matching pattern ("/stocks/GOOG", "/stocks/*" for one segment,
   * "/stocks/**" for any depth below). It returns a Promise, resolved once
   * the server has the subscription, of a function that unsubscribes fn.
   * Subscriptions made before start() are registered when it opens the
   * session, and again after a gap.
   * @param {string} pattern
   * @param {(data: unknown, topic: string) => void} fn
   * @returns {Promise<() => Promise<void>>}
   */
  function subscribe(pattern, fn) {
    if (typeof pattern !== "string" || !pattern.startsWith("/")) throw new TypeError("parley.subscribe: a pattern starts with /");
    if (typeof fn !== "function") throw new TypeError("parley.subscribe: pass a callback");
    let sub = subscriptions.get(pattern);
    if (!sub) {
      sub = { fns: new Set() };
      subscriptions.set(pattern, sub);
      const registered = session
        ? call(BUILTIN, "subscribe", [[pattern]]).catch((err) => {
          // The session ended under the call: the next one registers it.
          if (err.code === "failed_precondition") return nextRegistration();
          throw err;
        })
        : nextRegistration();
      sub.ready = registered.catch((err) => {
        if (subscriptions.get(pattern) === sub) subscriptions.delete(pattern);
        throw err;
      });
    }
    sub.fns.add(fn);
    return sub.ready.then(() => () => unsubscribe(pattern, fn));
  }

  /**
   * unsubscribe removes fn from pattern's callbacks, or all of them if fn
   * is omitted; the server stops sending when none is left.
   * @param {string} pattern
   * @param {Function} [fn]
   * @returns {Promise<void>}
   */
  function unsubscribe(pattern, fn) {
    const sub = subscriptions.get(pattern);
    if (!sub) return Promise.resolve();
    if (fn) sub.fns.delete(fn);
    else sub.fns.clear();
    if (sub.fns.size > 0) return Promise.resolve();
    subscriptions.delete(pattern);
    if (!session) return Promise.resolve();
    return call(BUILTIN, "unsubscribe", [[pattern]]).then(
      () => {},
      (err) => {
        if (err.code !== "failed_precondition") throw err;
      },
    );
  }

  // publish hands a publication to each callback of a matching pattern, once.
  function publish(topic, data) {
    const called = new Set();
    for (const [pattern, sub] of subscriptions) {
      if (!topicMatches(pattern, topic)) continue;
      for (const fn of sub.fns) {
        if (called.has(fn)) continue;
        called.add(fn);
        try {
          fn(data, topic);
        } catch (err) {
          console.error("parley: subscriber of", pattern, "threw", err);
          emit("error", err);
        }
      }
    }
  }

  // deliver runs the messages of a reply for session `from`, in sequence
  // order, skipping those already run. A reset ends the session.
  function deliver(reply, from) {
    if (from !== session || !session) return;
    if (reply.reset) {
      // The server that held the session shut down, and the one that
      // answers now does not know it.
      reset(leaving && reply.reset.reason === "expired" ? "shutdown" : reply.reset.reason);
      leaving = false;
      return;
    }
    if (!reply.shutdown) leaving = false;
    failures = 0;
    if (reply.advice) advise(reply.advice);
    for (const m of reply.messages ?? []) {
      if (m.seq <= lastSeq) continue; // a duplicate: already run
      if (m.seq !== lastSeq + 1) emit("gap", { reason: "sequence", from: lastSeq + 1, to: m.seq - 1 });
      lastSeq = m.seq;
      run(m.fn, m.args, m.invoke);
    }
  }

  // reset ends the session. The receive loop opens the next one after
  // backoff(); a passive page, which has no loop, reopens here the same way.
  function reset(reason) {
    session = "";
    lastSeq = 0;
    markAcked();
    emit("gap", { reason });
    if (running && !ownLoop()) reopen();
  }

  // ownLoop reports whether the page's receive loop opens its sessions: a
  // passive page and a follower open theirs in reopen().
  function ownLoop() {
    return role !== "follower" && Boolean(active().receive);
  }

  // reopen opens a passive page's next session, after backoff() before
  // each attempt, until one opens or the page stops.
  async function reopen() {
    if (reopening) return;
    reopening = true;
    try {
      while (running && !ownLoop() && !session) {
        await backoff();
        if (!running || ownLoop() || session) break;
        await ensureSession().catch(() => {});
      }
    } finally {
      reopening = false;
    }
  }

  // backoff counts a failure and waits before the next attempt: a random
  // time between half and all of a cap that grows with each failure in a
  // row, so that many pages do not come back in step.
  function backoff() {
    failures++;
    const cap = BACKOFF_MS[Math.min(failures - 1, BACKOFF_MS.length - 1)];
    return sleep(cap / 2 + random() * (cap / 2));
  }

  // serverLeaving follows a server's notice that it is shutting down: the
  // page keeps its session and waits a random time between half and all
  // of the delay the server gave, so that the server's pages do not all
  // come back at once, then reconnects to whichever server answers. It is
  // not a failure, and not a gap: the page resumes its session if that
  // server knows it, and is reset with the reason "shutdown" if not.
  function serverLeaving(notice) {
    leaving = true;
    setState("reconnecting");
    const ms = notice.reconnect > 0 ? notice.reconnect : SHUTDOWN_RECONNECT_MS;
    return sleep(ms / 2 + random() * (ms / 2));
  }

  // post sends one request and returns its Parley JSON reply, or throws a
  // ParleyError. A body that is FormData goes as multipart/form-data.
  // Replies that are not Parley JSON get codes of their own: a login page
  // (a redirect followed to a non-JSON page, or a 401 that is not JSON) is
  // unauthenticated; anything else (a proxy's 502, a network failure) is
  // unavailable.
  async function post(path, body, signal, headers) {
    let res;
    const form = typeof FormData !== "undefined" && body instanceof FormData;
    try {
      res = await fetchFn(new URL(path, base), {
        method: "POST",
        headers: form ? { ...headers, "X-Parley": "1" } : { ...headers, "Content-Type": "application/json", "X-Parley": "1" },
        // "include": a page of another origin the server allows (CORS)
        // sends its cookies too, as a page of the server's own does.
        credentials: "include",
        body: form ? body : JSON.stringify(body),
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
      if (res.status === 401 || (res.redirected && res.ok)) {
        throw new ParleyError("unauthenticated", `not logged in: the server answered with a login page (HTTP ${res.status}${res.redirected ? ", redirected" : ""})`);
      }
      throw new ParleyError("unavailable", `not a Parley reply (HTTP ${res.status})`);
    }
    if (data.error) throw toError(data.error);
    return data;
  }

  function toError(e) {
    return new ParleyError(String(e.code ?? "unknown"), String(e.message ?? ""), e.details);
  }

  // Defaults for every call, set with configure().
  let defaults = { timeout: 0, headers: undefined };
  // The explicit batches being filled by batch(), innermost last.
  const batching = [];

  /**
   * configure sets defaults for every later call: `timeout` in
   * milliseconds (0: none) and `headers` sent with every request. A call's
   * own options override them.
   * @param {{timeout?: number, headers?: Record<string, string>}} options
   */
  function configure({ timeout, headers } = {}) {
    if (timeout !== undefined) {
      if (typeof timeout !== "number" || !(timeout >= 0)) throw new TypeError("parley.configure: timeout must be a number of milliseconds");
      defaults = { ...defaults, timeout };
    }
    if (headers !== undefined) defaults = { ...defaults, headers: headers ? { ...headers } : undefined };
  }

  /**
   * call sends one call. Calls made in the same tick with the same headers
   * go in one request; a call with a `signal` goes in a request of its
   * own, which is aborted when the signal fires so that the server cancels
   * the method. It returns a Promise of the method's result that rejects
   * with a ParleyError; or, given `callback` and/or `errorHandler` (DWR
   * style), calls callback(result) or errorHandler(message, error) and
   * returns a Promise that always resolves, after them.
   * @param {string} service
   * @param {string} method
   * @param {unknown[]} [args]
   * @param {CallOptions | CallbackOptions} [options]
   */
  function call(service, method, args = [], options = {}) {
    const { signal, callback, errorHandler } = options ?? {};
    const timeout = options?.timeout ?? defaults.timeout;
    const headers = options?.headers || defaults.headers ? { ...defaults.headers, ...options?.headers } : undefined;
    const p = new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new ParleyError("canceled", "call canceled"));
        return;
      }
      let timer;
      const c = { id: nextId++, service, method, args, timeout: timeout > 0 ? Math.ceil(timeout) : 0, signalled: Boolean(signal), settled: false, req: null };
      const settle = (fn) => (v) => {
        if (c.settled) return;
        c.settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        fn(v);
        c.req?.gaveUp();
      };
      c.resolve = settle(resolve);
      c.reject = settle(reject);
      const onAbort = () => c.reject(new ParleyError("canceled", "call canceled"));
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeout > 0) timer = setTimeout(() => c.reject(new ParleyError("deadline_exceeded", `no reply within ${timeout} ms`)), timeout);

      const explicit = batching[batching.length - 1];
      if (explicit) {
        explicit.calls.push(c);
      } else if (signal) {
        queueMicrotask(() => sendBatch([c], headers, false));
      } else {
        const key = headers ? JSON.stringify(headers) : "";
        if (!queue.has(key)) queue.set(key, { headers, calls: [] });
        queue.get(key).calls.push(c);
        if (!flushing) {
          flushing = true;
          queueMicrotask(flush);
        }
      }
    });
    if (!callback && !errorHandler) return p;
    return p.then(
      (v) => {
        callback?.(v);
      },
      (err) => {
        if (errorHandler) errorHandler(err.message, err);
        else {
          console.error("parley:", service + "." + method, "failed:", err);
          emit("error", err);
        }
      },
    );
  }

  /**
   * batch sends every call made while fn runs in one request, and returns
   * what fn returns. With `ordered: true` the server runs the calls one
   * after another in call order; by default they run concurrently.
   * `headers` are sent with the request, over the configured defaults.
   * @template T
   * @param {() => T} fn
   * @param {{ordered?: boolean, headers?: Record<string, string>}} [options]
   * @returns {T}
   */
  function batch(fn, { ordered = false, headers } = {}) {
    if (typeof fn !== "function") throw new TypeError("parley.batch: pass a function that makes the calls");
    const b = { calls: [] };
    batching.push(b);
    let out;
    try {
      out = fn();
    } finally {
      batching.pop();
      if (b.calls.length > 0) {
        const h = headers || defaults.headers ? { ...defaults.headers, ...headers } : undefined;
        const outer = batching[batching.length - 1];
        if (outer) outer.calls.push(...b.calls);
        else sendBatch(b.calls, h, ordered);
      }
    }
    return out;
  }

  function flush() {
    flushing = false;
    const batches = [...queue.values()];
    queue = new Map();
    for (const b of batches) sendBatch(b.calls, b.headers, false);
  }

  // sendBatch sends calls in one request: multipart/form-data when an
  // argument is a Blob, each Blob in a part of its own and replaced in the
  // arguments by {"$upload": PART}. The request is aborted when every one
  // of its calls has given up (canceled or timed out). A batch with no
  // Blob, no signal and no headers of its own goes over the transport's
  // connection instead when it can carry calls (WebSocket).
  async function sendBatch(batch, headers, ordered) {
    batch = batch.filter((c) => !c.settled);
    if (batch.length === 0) return;
    const from = session;
    const files = [];
    const calls = batch.map(({ id, service, method, args, timeout }) => {
      const out = { id, service, method, args };
      if (Array.isArray(args) && typeof Blob !== "undefined" && args.some((a) => a instanceof Blob)) {
        out.args = args.map((a) => {
          if (!(a instanceof Blob)) return a;
          files.push(a);
          return { $upload: `f${files.length - 1}` };
        });
      }
      if (timeout > 0) out.timeout = timeout;
      return out;
    });
    if (files.length === 0 && !headers && !batch.some((c) => c.signalled) && active()?.carry(batch, calls, ordered)) return;
    const abort = new AbortController();
    const req = { gaveUp: () => batch.every((c) => c.settled) && abort.abort() };
    for (const c of batch) c.req = req;
    const envelope = { session: from, ack: lastSeq, calls };
    const ackedBefore = markAcked();
    if (ordered) envelope.ordered = true;
    // A page with no receive loop receives on these replies alone: any
    // server fetches its messages from the one that holds its session.
    if (active()?.receive === null) envelope.pull = true;
    let body = envelope;
    if (files.length > 0) {
      body = new FormData();
      body.append("envelope", JSON.stringify(envelope));
      files.forEach((f, i) => body.append(`f${i}`, f, typeof f.name === "string" ? f.name : "blob"));
    }
    let reply;
    try {
      reply = await post("call", body, abort.signal, headers);
    } catch (err) {
      ackLost(err, from, envelope.ack, ackedBefore);
      for (const c of batch) c.reject(err);
      return;
    }
    deliver(reply, from);
    ackLater(from, 0);
    if (reply.cookie === true) cookieChanged();
    settleCalls(batch, reply);
  }

  // cookieChanged renews the connection that carries calls, which a POST
  // reply's new cookie left behind: this tab's, or, when another tab
  // leads, the leader's.
  function cookieChanged() {
    if (role === "follower") tell({ t: "cookie" });
    else active()?.renew?.();
  }

  // settleCalls settles each call of a batch from the reply to it: its
  // result or error, matched by id, or the error of the whole batch.
  function settleCalls(batch, reply) {
    if (reply.error) {
      const err = toError(reply.error);
      for (const c of batch) c.reject(err);
      return;
    }
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
      opening = post("session", { page: page(), transport: current })
        .then((r) => {
          session = r.session;
          lastSeq = 0;
          told = 0;
          markAcked();
          if (role === "follower") hello();
          else if (!role && share && !canShare() && r.held >= HELD_LIMIT && COMETS.includes(current)) switchTo("poll");
          sessionOpened();
        })
        .finally(() => {
          opening = null;
        });
    }
    return opening;
  }

  // sleep waits ms, or less if wake() is called (a transport switch, or
  // the network coming back).
  function sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      wakers.add(done);
      function done() {
        clearTimeout(t);
        wakers.delete(done);
        resolve();
      }
    });
  }

  function wake() {
    for (const w of [...wakers]) w();
    inFlight?.abort();
  }

  // comet is the held transport the page prefers: the one asked for, or in
  // "auto" the first of COMETS that this browser has and that neither
  // failed on this page nor is passed over by the remembered choice.
  function comet() {
    if (preferred !== "auto") return preferred;
    return COMETS.find((t) => !skipped.has(t) && transports[t].usable()) ?? "longpoll";
  }

  function switchTo(t) {
    if (t === current) return;
    current = t;
    emit("transport", t);
    if (role === "leader") tell({ t: "state", state, transport: t });
    wake();
  }

  // active is the object of the transport in use.
  function active() {
    return transports[current];
  }

  function online() {
    return globalThis.navigator?.onLine !== false;
  }

  // advise follows the server's advice: poll while it is loaded, at the
  // interval it gives, and come back to Comet when it says so.
  function advise(a) {
    if (a.interval > 0) interval = Math.max(a.interval, ownInterval);
    if (a.transport === "poll" && current !== "poll" && current !== "passive") {
      advisedPoll = true;
      switchTo("poll");
    } else if (a.transport === "comet" && advisedPoll) {
      advisedPoll = false;
      switchTo(comet());
    }
  }

  // The choice of "auto" is remembered per server (origin and prefix) for
  // REMEMBER_MS, as {t, at}: the transport that worked and when it was
  // chosen. Until then a page starts from it; afterwards it tries from the
  // top again. Without storage (private modes, sandboxed frames) every page
  // tries from the top.
  const rememberKey = REMEMBER_PREFIX + String(base);

  function storage() {
    try {
      return storageOption === undefined ? (globalThis.localStorage ?? null) : storageOption;
    } catch {
      return null;
    }
  }

  // remembered returns the transport "auto" chose on this server less than
  // REMEMBER_MS ago, or "".
  function remembered() {
    try {
      const v = JSON.parse(storage()?.getItem(rememberKey) ?? "null");
      const age = Date.now() - v?.at;
      return COMETS.includes(v?.t) && age >= 0 && age < REMEMBER_MS ? v.t : "";
    } catch {
      return "";
    }
  }

  // worked records that transport t delivered for an "auto" page, unless
  // that is already the remembered choice (whose time is when it was made).
  function worked(t) {
    if (preferred !== "auto" || remembered() === t) return;
    try {
      storage()?.setItem(rememberKey, JSON.stringify({ t, at: Date.now() }));
    } catch {
      // Storage full or refused: the next page tries from the top.
    }
  }

  // receiveLoop receives reverse calls with the transport in use, one
  // connection or request at a time, until the page stops or switches to
  // a transport that has no loop. What a transport does lives in its
  // object; the loop opens sessions, follows shutdown notices and resets,
  // backs off after failures, and in "auto" moves on to the next transport
  // when the one in use says it is not for this page.
  async function receiveLoop(loop = ++loops) {
    while (running && loop === loops && active().receive) {
      const t = active();
      const ctl = (inFlight = new AbortController());
      try {
        await ensureSession();
        const notice = await t.receive(session, ctl.signal);
        if (notice) {
          await serverLeaving(notice);
          continue;
        }
        if (!session) {
          // Reset: the next session is opened after a pause, as after a failure.
          if (running) await backoff();
          continue;
        }
        failures = 0;
      } catch (err) {
        if (!running) break;
        if (ctl.signal.aborted) continue; // a switch or the network coming back: go on at once
        if (err.code === "permission_denied" && session) reset("expired");
        if (t.failed(err) && preferred === "auto" && t === active()) {
          skipped.add(t.name);
          switchTo(comet());
          failures = 0;
          continue;
        }
        setState(online() ? "reconnecting" : "offline");
        await backoff();
      }
    }
  }

  // Transports: one object per way of receiving reverse calls, all of one
  // shape:
  //
  //   name     what start(), the transport event and parley.transport call it.
  //   usable() whether this browser has what the transport needs.
  //   receive(from, signal)
  //            makes one connection or request for session `from` and runs
  //            what arrives on it. It resolves when that ends as it should
  //            (to the server's shutdown notice, if the server sent one),
  //            throws a ParleyError when it fails, and ends at once when
  //            signal aborts. null: the transport has no receive loop, and
  //            messages arrive only on the replies to calls.
  //   failed(err)
  //            counts a failure of receive and reports whether the
  //            transport is not for this page, so that "auto" moves on.
  //   ack      how a page acknowledges what it ran when no request of its
  //            own carries the ack soon (ACK_DELAY_MS after the first message
  //            left unacknowledged): {send(from)}; null when the
  //            next request carries it (see ackLater).
  //   carry(batch, calls, ordered)
  //            sends a batch of calls over the transport's own connection
  //            and settles them from the reply; false when it cannot, and
  //            the batch goes by POST call.
  //   renew()  (optional) opens the transport's connection again, once the
  //            calls in flight on it are answered: a POST reply changed a
  //            cookie that the open connection's calls would not carry.
  const passiveTransport = { name: "passive", usable: () => true, receive: null, failed: () => false, ack: null, carry: () => false };

  // pollTransport is long-poll (wait) or polling (not wait): each request
  // carries the ack, and its reply carries the messages.
  function pollTransport(name, wait) {
    // receiveMux is one multiplexed poll of the leader: it names every
    // session with its ack, and passes each session's delivery on. Before
    // the next poll it waits a little for the other tabs to acknowledge
    // what they got, so that the poll does not bring it back.
    async function receiveMux(from, signal) {
      const named = namedSessions();
      const body = { sessions: Object.fromEntries(named), ...(wait ? {} : { wait }) };
      markAllAcked();
      const reply = await post("poll", body, signal);
      setState("connected");
      failures = 0;
      if (reply.advice) adviseAll(reply.advice);
      const passed = [];
      for (const [id, d] of Object.entries(reply.sessions ?? {})) {
        if (id !== from && peers.has(id) && d?.messages?.length) passed.push([id, d.messages[d.messages.length - 1].seq]);
        route(id, id === from ? { ...d, shutdown: reply.shutdown } : d, 0);
      }
      if (wait && session === from) worked(name);
      if (reply.shutdown) tell({ t: "shutdown", ...reply.shutdown });
      const notice = session === from ? reply.shutdown : undefined;
      if (!notice) await peersCaughtUp(passed);
      if (!notice && !wait && running && current === name && session === from) await sleep(interval);
      return notice;
    }

    return {
      name,
      usable: () => true,
      async receive(from, signal) {
        if (role === "leader") return receiveMux(from, signal);
        const body = { session: from, ack: lastSeq, ...(wait ? {} : { wait }) };
        markAcked();
        const reply = await post("poll", body, signal);
        setState("connected");
        deliver(reply, from);
        if (wait && session === from) worked(name);
        const notice = session === from ? reply.shutdown : undefined;
        // A reply that left messages for the next request ("more") is
        // followed by the next poll at once.
        if (!notice && !wait && !reply.more && running && current === name && session === from) await sleep(interval);
        return notice;
      },
      // A failed request is the network's or the server's, never the
      // transport's: long-poll is the last resort.
      failed: () => false,
      ack: null,
      carry: () => false,
    };
  }

  // sseTransport streams. A stream that is buffered, or that keeps
  // breaking soon after it opens while the network is up, is not for this
  // page. A network failure, or a stream that served a while before it
  // broke, is no fault of the stream.
  function sseTransport() {
    let faults = 0;
    return {
      name: "sse",
      usable: () => typeof ReadableStream !== "undefined",
      async receive(from, signal) {
        const began = Date.now();
        let notice;
        try {
          notice = await stream(from, signal);
        } catch (err) {
          err.brief = Date.now() - began < MIN_STREAM_MS;
          throw err;
        }
        // A stream that ends as soon as it began (a proxy cutting it) must
        // not make the page reconnect in a tight loop.
        if (!notice && running && current === "sse" && session === from && Date.now() - began < MIN_STREAM_MS) {
          throw Object.assign(new ParleyError("unavailable", "the event stream closed at once"), { brief: true });
        }
        faults = 0;
        return notice;
      },
      failed(err) {
        if (err.brief && !err.network && online()) faults++;
        return Boolean(err.buffered) || faults >= 2;
      },
      ack: { send: postAck },
      carry: () => false,
    };
  }

  // websocketTransport receives and calls over one socket (PROTOCOL.md,
  // "WebSocket"). A socket that fails before the server's open frame, or
  // whose open frame does not come within wsOpenTimeout, is not for this
  // page, and neither is one that keeps closing soon after it opened.
  function websocketTransport() {
    let faults = 0;
    // sock is the open socket: {ws, from, mux (the leader's, for every
    // tab), named (the sessions its URL named), ready (the open frame came),
    // opened (when), closing (takes no more calls), batches (re -> the
    // calls in flight), nextRe, notice (the server's shutdown notice)}.
    let sock = null;

    function socketURL(from) {
      const u = new URL(role === "leader" ? `ws?sessions=${sessionsParam()}` : `ws?session=${encodeURIComponent(from)}&ack=${lastSeq}`, base);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      return u.href;
    }

    function receive(from, signal) {
      return new Promise((resolve, reject) => {
        let settled = false;
        let openTimer = null;
        const finish = (fn, v) => {
          if (settled) return;
          settled = true;
          clearTimeout(openTimer);
          signal.removeEventListener("abort", onAbort);
          fn(v);
        };
        const s = { ws: null, from, mux: role === "leader", named: new Set(namedSessions().map(([id]) => id)), ready: false, opened: 0, closing: false, batches: new Map(), nextRe: 1, notice: undefined };
        try {
          s.ws = new WebSocketClass(socketURL(from));
        } catch (err) {
          finish(reject, Object.assign(new ParleyError("unavailable", `no WebSocket: ${err?.message ?? err}`), { upgrade: true }));
          return;
        }
        if (s.mux) markAllAcked();
        else markAcked();
        sock = s;
        const onAbort = () => {
          s.closing = true;
          drain(s);
          finish(reject, new ParleyError("canceled", "socket closed"));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        openTimer = setTimeout(() => {
          s.closing = true;
          s.ws.close(1000);
          finish(reject, Object.assign(new ParleyError("unavailable", `no open frame within ${wsOpenTimeout} ms`), { buffered: true }));
        }, wsOpenTimeout);
        s.ws.addEventListener("message", (e) => {
          if (onFrame(s, e.data)) clearTimeout(openTimer);
        });
        s.ws.addEventListener("close", (e) => {
          if (sock === s) sock = null;
          s.closing = true;
          failBatches(s, e.code);
          if (settled) return;
          if (s.renewing) {
            // Closed to open the next socket with the cookies of now.
            finish(resolve, s.notice);
            return;
          }
          if (!s.ready) {
            // A browser tells nothing of why an upgrade failed. Ask the
            // server over HTTP: a network or server that is down, or a
            // session it refuses or reset, is no fault of the socket.
            const failed = Object.assign(new ParleyError("unavailable", `the WebSocket upgrade failed (code ${e.code})`), { upgrade: true });
            post("ack", { session: from, ack: lastSeq }, signal).then(
              (reply) => {
                deliver(reply, from);
                if (session === from) finish(reject, failed);
                else finish(resolve);
              },
              (err) => finish(reject, err),
            );
            return;
          }
          if (s.notice || session !== from) {
            faults = 0;
            finish(resolve, s.notice);
          } else if (Date.now() - s.opened < MIN_STREAM_MS) {
            finish(reject, Object.assign(new ParleyError("unavailable", "the WebSocket closed at once"), { brief: true }));
          } else if (e.code === 1000 || e.code === 1001) {
            faults = 0;
            finish(resolve);
          } else {
            faults = 0;
            finish(reject, new ParleyError("unavailable", `network error: the WebSocket closed (code ${e.code})`));
          }
        });
      });
    }

    // onFrame handles one frame from the server; it reports whether it was
    // the open frame.
    function onFrame(s, data) {
      if (typeof data !== "string") return false;
      let f;
      try {
        f = JSON.parse(data);
      } catch {
        f = null;
      }
      if (f === null || typeof f !== "object") {
        emit("error", new ParleyError("internal", "a WebSocket frame is not a JSON object"));
        return false;
      }
      if (f.open === true) {
        s.ready = true;
        s.opened = Date.now();
        setState("connected");
        worked("websocket");
        if (f.advice) adviseAll(f.advice);
        if (s.mux) {
          // The sessions that came or went while the socket opened.
          for (const id of s.named) if (id !== s.from && !peers.has(id)) s.ws.send(JSON.stringify({ leave: id }));
          for (const [id, p] of peers) {
            if (s.named.has(id)) continue;
            s.ws.send(JSON.stringify({ join: id, ack: p.ran }));
            p.sent = p.ran;
          }
        }
        return true;
      }
      if (s.mux && typeof f.session === "string" && f.re === undefined) {
        if (f.error) {
          // A session the server refused to join: it is not this browser's.
          if (f.session === s.from) emit("error", toError(f.error));
          else peers.delete(f.session);
          return false;
        }
        const { session: id, ...delivery } = f;
        route(id, delivery, data.length);
        if (id === s.from && session !== s.from) {
          // This tab's session was reset: reconnect with the next one.
          s.closing = true;
          drain(s);
        }
        return false;
      }
      if (f.re !== undefined) {
        const batch = s.batches.get(f.re);
        if (batch) {
          s.batches.delete(f.re);
          const settle = () => {
            settleCalls(batch, f);
            drain(s);
          };
          // The calls set a cookie, which only an HTTP reply can carry:
          // fetch it before the calls settle, so what follows sends it.
          if (f.cookie === true) post("ack", { session: s.from, ack: acked, cookie: true }).then(settle, settle);
          else settle();
        }
        return false;
      }
      if (f.error) {
        // A batch the server could not read well enough to answer.
        emit("error", toError(f.error));
        return false;
      }
      if (s.mux && f.advice) {
        adviseAll(f.advice);
        delete f.advice;
      }
      deliver(f, s.from);
      if (f.shutdown && s.mux) tell({ t: "shutdown", ...f.shutdown });
      if (f.shutdown && s.from === session) s.notice = f.shutdown;
      ackLater(s.from, data.length);
      return false;
    }

    // renew closes the socket once no call is in flight on it, and the
    // receive loop opens the next one at once: an HTTP reply changed a
    // cookie, and the socket's calls carry the cookies it opened with.
    function renew() {
      const s = sock;
      if (!s || s.closing) return;
      s.renewing = true;
      s.closing = true;
      drain(s);
    }

    // drain closes a socket that takes no more calls once none is in flight.
    function drain(s) {
      if (s.closing && s.batches.size === 0 && s.ws.readyState < WS_CLOSING) s.ws.close(1000);
    }

    // failBatches fails the calls in flight on a socket that closed, as a
    // failed fetch fails them: they were sent, so they are not sent again.
    function failBatches(s, code) {
      const err = new ParleyError("unavailable", `network error: the WebSocket closed (code ${code})`);
      const batches = [...s.batches.values()];
      s.batches.clear();
      for (const batch of batches) for (const c of batch) c.reject(err);
    }

    // open returns the socket if it can carry frames for the session now.
    function open() {
      const s = sock;
      return s && s.ready && !s.closing && s.from === session && s.ws.readyState === WS_OPEN ? s : null;
    }

    // muxOpen returns the leader's multiplexed socket if it is open.
    function muxOpen() {
      const s = open();
      return s?.mux && role === "leader" ? s : null;
    }

    return {
      name: "websocket",
      usable: () => typeof WebSocketClass === "function",
      receive,
      renew,
      failed(err) {
        if (!online()) return false;
        if (err.brief) faults++;
        return Boolean(err.upgrade || err.buffered) || faults >= 2;
      },
      // join adds a session to the leader's socket, or takes one away.
      join(id, ack) {
        const s = muxOpen();
        if (!s) return false;
        s.ws.send(JSON.stringify(ack === undefined ? { leave: id } : { join: id, ack }));
        return true;
      },
      ack: {
        // sendMux sends an ack frame for each [session, ack] on the
        // leader's socket; false when it has none open.
        sendMux(pending) {
          const s = muxOpen();
          if (!s) return false;
          for (const [id, ack] of pending) s.ws.send(JSON.stringify({ session: id, ack }));
          return true;
        },
        send(from) {
          const s = open();
          if (!s || s.from !== from) {
            postAck(from);
            return;
          }
          s.ws.send(JSON.stringify({ ack: lastSeq }));
          markAcked();
        },
      },
      carry(batch, calls, ordered) {
        const s = open();
        if (!s) return false;
        const re = s.nextRe++;
        const text = JSON.stringify(s.mux ? { re, session: s.from, calls, ordered } : { re, calls, ordered, ack: lastSeq });
        if (text.length > WS_FRAME_LIMIT / 3 && new TextEncoder().encode(text).length > WS_FRAME_LIMIT) return false;
        s.batches.set(re, batch);
        const req = {
          gaveUp: () => {
            if (batch.every((c) => c.settled) && s.batches.delete(re)) drain(s);
          },
        };
        for (const c of batch) c.req = req;
        s.ws.send(text);
        if (!s.mux) markAcked();
        return true;
      },
    };
  }

  const transports = {
    websocket: websocketTransport(),
    sse: sseTransport(),
    longpoll: pollTransport("longpoll", true),
    poll: pollTransport("poll", false),
    passive: passiveTransport,
  };

  // stream reads reverse calls from an SSE stream until it ends. The
  // stream must open with an "open" event in time, or a proxy is buffering
  // it and the page falls back to long-poll. It returns the server's
  // shutdown notice if the stream ended with one.
  async function stream(from, signal) {
    const mux = role === "leader";
    const last = String(lastSeq);
    const url = mux ? `sse?sessions=${sessionsParam()}` : `sse?session=${encodeURIComponent(from)}`;
    if (mux) markAllAcked();
    else markAcked();
    let res;
    try {
      res = await fetchFn(new URL(url, base), {
        headers: mux ? { Accept: "text/event-stream", "X-Parley": "1" } : { "Last-Event-ID": last, Accept: "text/event-stream", "X-Parley": "1" },
        credentials: "include",
        cache: "no-store",
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw new ParleyError("canceled", "stream closed");
      throw Object.assign(new ParleyError("unavailable", `network error: ${err?.message ?? err}`), { network: true });
    }
    if (!(res.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
      const data = await res.json().catch(() => null);
      throw data?.error ? toError(data.error) : new ParleyError("unavailable", `not an event stream (HTTP ${res.status})`);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let opened = false;
    let buffered = false;
    const openTimer = setTimeout(() => {
      if (!opened) {
        buffered = true;
        reader.cancel().catch(() => {});
      }
    }, sseOpenTimeout);
    let text = "";
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw signal.aborted ? new ParleyError("canceled", "stream closed") : new ParleyError("unavailable", `stream broken: ${err?.message ?? err}`);
        }
        if (buffered) throw Object.assign(new ParleyError("unavailable", "the event stream is being buffered"), { buffered });
        if (chunk.done) return;
        text += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
        let end;
        while ((end = text.indexOf("\n\n")) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          let event = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
          }
          if (!data) continue;
          const payload = JSON.parse(data);
          if (event === "open") {
            opened = true;
            setState("connected");
            worked("sse");
            if (payload.advice) adviseAll(payload.advice);
          } else if (event === "mux") {
            const { session: id, ...delivery } = payload ?? {};
            route(id, delivery, data.length);
            if (id === from && session !== from) return; // reset
          } else if (event === "reset") {
            deliver({ reset: payload }, from);
            return;
          } else if (event === "shutdown") {
            // The server is going away; the messages before this are run.
            if (mux) tell({ t: "shutdown", ...payload });
            return from === session ? payload : undefined;
          } else if (event === "error") {
            // The server could not serve the stream: the data is the error.
            throw toError(payload);
          } else if (event === "message") {
            deliver({ messages: [payload] }, from);
            ackLater(from, data.length);
          }
          if (current !== "sse") return; // advised to poll
        }
      }
    } finally {
      clearTimeout(openTimer);
      reader.cancel().catch(() => {});
    }
  }

  // markAcked records that a request or frame being sent carries lastSeq
  // as the page's ack, so nothing is pending until more messages run. It
  // returns the ack carried before, for ackLost.
  function markAcked() {
    const before = acked;
    acked = lastSeq;
    unackedBytes = 0;
    clearTimeout(ackTimer);
    ackTimer = null;
    return before;
  }

  // ackLater acknowledges what the page has run and no request has
  // carried, on a transport whose own requests do not carry acks soon
  // (SSE, WebSocket): at once past ACK_MAX_MESSAGES messages or
  // ACK_MAX_BYTES of data, else ACK_DELAY_MS after the first of
  // them. The other transports carry the ack on their next request.
  function ackLater(from, bytes) {
    if (from !== session || !running) return;
    if (role === "follower") {
      tellAck();
      return;
    }
    if (role === "leader") {
      unackedBytes += bytes;
      muxAckLater();
      return;
    }
    if (!active()?.ack || lastSeq <= acked) return;
    unackedBytes += bytes;
    if (lastSeq - acked >= ACK_MAX_MESSAGES || unackedBytes >= ACK_MAX_BYTES) sendAck(from);
    else armAckTimer(from);
  }

  // armAckTimer sends the page's ack after ACK_DELAY_MS, unless a
  // request carries it first or a timer is already running.
  function armAckTimer(from) {
    if (role) {
      if (role === "leader") muxAckLater();
      return;
    }
    ackTimer ??= setTimeout(() => {
      ackTimer = null;
      sendAck(from);
    }, ACK_DELAY_MS);
  }

  // ackLost undoes markAcked for a request that may not have reached the
  // server (a network failure or an abort): its ack is pending again.
  function ackLost(err, from, seq, before) {
    if (err.code !== "unavailable" && err.code !== "canceled") return;
    if (from !== session || acked !== seq) return;
    acked = before;
    if (running && active()?.ack && lastSeq > acked) armAckTimer(from);
  }

  // sendAck sends the page's ack now, if a request has not carried it: as
  // the transport does it, or by POST ack.
  function sendAck(from) {
    if (from !== session) return;
    if (role === "follower") tellAck();
    else if (role === "leader") sendMuxAcks();
    else if (lastSeq > acked) (active()?.ack?.send ?? postAck)(from);
  }

  // postAck posts the page's ack.
  function postAck(from) {
    const seq = lastSeq;
    const before = markAcked();
    post("ack", { session: from, ack: seq })
      .then((r) => deliver(r, from))
      .catch((err) => ackLost(err, from, seq, before));
  }

  // Sharing one held connection among a browser's tabs (PROTOCOL.md, "One
  // held connection per browser"). Every tab asks for the lock named
  // shareName; the one that has it is the leader and holds the connection
  // for every tab's session, the others wait in the lock's queue. The tabs
  // talk over a BroadcastChannel of the same name: followers say hello
  // with their session and ack, acknowledge what they ran and say bye; the
  // leader announces itself and passes on each session's deliveries, its
  // connection's state, advice and shutdown notices.

  // canShare reports whether this browser has what sharing needs.
  function canShare() {
    return typeof locks?.request === "function" && typeof ChannelClass === "function";
  }

  // tell sends a message to the other tabs.
  function tell(msg) {
    try {
      channel?.postMessage(msg);
    } catch {
      // The channel is closed: the tab is going away.
    }
  }

  function hello() {
    if (session) tell({ t: "hello", tab, session, ack: lastSeq });
  }

  // tellAck tells the leader what a follower has run.
  function tellAck() {
    if (!session || lastSeq <= told) return;
    told = lastSeq;
    tell({ t: "ack", tab, session, ack: lastSeq });
  }

  // onChannel handles a message from another tab.
  function onChannel(e) {
    const m = e.data;
    if (!running || m === null || typeof m !== "object") return;
    switch (m.t) {
      case "hello": {
        if (typeof m.session !== "string" || m.session === "" || m.session === session) return;
        for (const [id, p] of peers) if (p.tab === m.tab && id !== m.session) dropPeer(id);
        const known = peers.get(m.session);
        const ack = Number(m.ack) || 0;
        if (known) known.ran = Math.max(known.ran, ack);
        else peers.set(m.session, { tab: m.tab, ran: ack, sent: ack, bytes: 0 });
        if (role === "leader") {
          if (!known) sessionsChanged(m.session, ack);
          tell({ t: "state", state, transport: current });
        }
        return;
      }
      case "ack": {
        const p = peers.get(m.session);
        if (!p || !(m.ack > p.ran)) return;
        p.ran = m.ack;
        for (const w of [...peerWaiters]) w();
        if (role === "leader") muxAckLater();
        return;
      }
      case "bye":
        if (peers.has(m.session)) dropPeer(m.session);
        return;
      case "leader":
        for (const [id, p] of peers) if (p.tab === m.tab) peers.delete(id);
        if (role === "follower") hello();
        return;
      case "deliver":
        if (role === "follower" && session && m.session === session && m.delivery) {
          const from = session;
          deliver(m.delivery, from);
          ackLater(from, 0);
        }
        return;
      case "state":
        if (role !== "follower") return;
        if (typeof m.transport === "string" && m.transport !== sharedTransport) {
          sharedTransport = m.transport;
          emit("transport", m.transport);
        }
        setState(m.state);
        return;
      case "shutdown":
        // The leader reconnects for every tab; a reset that follows is
        // reported as "shutdown".
        if (role === "follower") leaving = true;
        return;
      case "cookie":
        if (role === "leader") active()?.renew?.();
        return;
      default:
        // advice: the leader follows it for every tab.
        return;
    }
  }

  // dropPeer forgets a session another tab no longer has.
  function dropPeer(id) {
    peers.delete(id);
    if (role === "leader") sessionsChanged(id);
  }

  // sessionsChanged follows a change of the leader's set of sessions: a
  // session joins (with its ack) or leaves the socket, or the stream or
  // long-poll is made again with the new set. Polling names the new set
  // on its next request.
  function sessionsChanged(id, ack) {
    if (current === "websocket") {
      // A socket still opening sends joins and leaves once it is open.
      if (transports.websocket.join(id, ack) && ack !== undefined) peers.get(id).sent = ack;
      return;
    }
    if (current === "sse" || (current !== "poll" && ack !== undefined)) inFlight?.abort();
  }

  // namedSessions returns [session, ack] for the leader's own session and
  // every other tab's, at most MUX_MAX_SESSIONS.
  function namedSessions() {
    const out = session ? [[session, lastSeq]] : [];
    for (const [id, p] of peers) out.push([id, p.ran]);
    return out.slice(0, MUX_MAX_SESSIONS);
  }

  function sessionsParam() {
    return namedSessions().map(([id, ack]) => `${encodeURIComponent(id)}.${ack}`).join(",");
  }

  // markAllAcked records that a request or connection being opened carries
  // every session's ack.
  function markAllAcked() {
    markAcked();
    for (const p of peers.values()) {
      p.sent = p.ran;
      p.bytes = 0;
    }
    clearTimeout(muxAckTimer);
    muxAckTimer = null;
  }

  // route runs a session's delivery if it is the leader's own, or passes it
  // on to the tab whose session it is. A reset session is forgotten.
  function route(id, delivery, bytes) {
    if (typeof id !== "string" || delivery === null || typeof delivery !== "object") return;
    if (id === session) {
      deliver(delivery, id);
      ackLater(id, bytes);
      return;
    }
    const p = peers.get(id);
    if (!p) return;
    tell({ t: "deliver", session: id, delivery });
    if (delivery.reset) peers.delete(id);
    else p.bytes += bytes;
  }

  // adviseAll follows the server's advice for every tab.
  function adviseAll(a) {
    advise(a);
    if (role === "leader") tell({ t: "advice", ...a });
  }

  // muxAckLater acknowledges what the tabs have run by the rule of
  // ackLater, per session, on a transport whose requests do not carry acks
  // soon.
  function muxAckLater() {
    const t = active();
    if (!running || role !== "leader" || !t?.ack) return;
    let pending = false;
    let now = false;
    const check = (ran, sent, bytes) => {
      if (ran <= sent) return;
      pending = true;
      if (ran - sent >= ACK_MAX_MESSAGES || bytes >= ACK_MAX_BYTES) now = true;
    };
    check(lastSeq, acked, unackedBytes);
    for (const p of peers.values()) check(p.ran, p.sent, p.bytes);
    if (now) sendMuxAcks();
    else if (pending) {
      muxAckTimer ??= setTimeout(() => {
        muxAckTimer = null;
        sendMuxAcks();
      }, ACK_DELAY_MS);
    }
  }

  // sendMuxAcks sends every session's pending ack now: as frames on the
  // leader's socket, or by one POST ack. A POST that fails on the network
  // leaves them pending again.
  function sendMuxAcks() {
    clearTimeout(muxAckTimer);
    muxAckTimer = null;
    const pending = namedSessions().filter(([id, ack]) => ack > (id === session ? acked : peers.get(id).sent));
    if (pending.length === 0) return;
    const before = new Map(pending.map(([id]) => [id, id === session ? acked : peers.get(id).sent]));
    for (const [id, ack] of pending) {
      if (id === session) {
        acked = ack;
        unackedBytes = 0;
      } else {
        peers.get(id).sent = ack;
        peers.get(id).bytes = 0;
      }
    }
    if (active()?.ack?.sendMux?.(pending)) return;
    const own = session;
    post("ack", { sessions: Object.fromEntries(pending) }).then(
      (r) => {
        for (const [id, d] of Object.entries(r.sessions ?? {})) route(id, d, 0);
      },
      (err) => {
        if (err.code !== "unavailable" && err.code !== "canceled") return;
        for (const [id, ack] of pending) {
          if (id === own && session === own && acked === ack) acked = before.get(id);
          const p = peers.get(id);
          if (p && p.sent === ack) p.sent = before.get(id);
        }
        muxAckLater();
      },
    );
  }

  // peersCaughtUp waits until every tab of [session, seq] has acknowledged
  // seq, or left, or PEER_ACK_WAIT_MS have passed.
  async function peersCaughtUp(list) {
    const behind = () => list.some(([id, seq]) => peers.has(id) && peers.get(id).ran < seq);
    const until = Date.now() + PEER_ACK_WAIT_MS;
    while (running && behind() && Date.now() < until) {
      await new Promise((resolve) => {
        const t = setTimeout(done, until - Date.now());
        peerWaiters.add(done);
        function done() {
          clearTimeout(t);
          peerWaiters.delete(done);
          resolve();
        }
      });
    }
  }

  // shareLoop waits in the lock's queue as a follower, and leads once it
  // has the lock: it announces itself and holds the shared connection
  // until the page stops, which releases the lock to the next tab.
  async function shareLoop() {
    const loop = ++loops;
    const wait = (lockWait = new AbortController());
    try {
      await locks.request(shareName, { mode: "exclusive", signal: wait.signal }, async () => {
        if (!running || loop !== loops) return;
        role = "leader";
        sharedTransport = "";
        tell({ t: "leader", tab });
        tell({ t: "state", state, transport: current });
        // The lock is held until the loop ends, or the page is frozen.
        await Promise.race([receiveLoop(loop), new Promise((resolve) => (abdicate = resolve))]);
        abdicate = null;
      });
    } catch {
      // The page stopped while it waited for the lock.
    } finally {
      if (loop === loops && role === "leader") role = running ? "follower" : "";
    }
  }

  // A page the browser freezes runs nothing until it resumes: a leader
  // ends its connection and lets the lock go at once, so the next tab
  // takes over, and queues again as a follower when it resumes.
  function onFreeze() {
    if (role !== "leader" || !abdicate) return;
    const release = abdicate;
    abdicate = null;
    loops++;
    role = "follower";
    frozeLeading = true;
    wake();
    release();
  }
  function onResume() {
    if (!frozeLeading) return;
    frozeLeading = false;
    if (!running || role !== "follower") return;
    hello();
    shareLoop();
  }

  function onOnline() {
    if (running) wake();
  }
  function onOffline() {
    if (running) setState("offline");
  }
  // The page is going away: end its session at once, by beacon.
  function onPageHide() {
    if (!running || !session) return;
    globalThis.navigator?.sendBeacon?.(new URL("bye", base), JSON.stringify({ session, ack: lastSeq }));
    if (role) tell({ t: "bye", tab, session });
    session = "";
    lastSeq = 0;
    markAcked();
    stop();
    resumeOnShow = true;
  }
  // A page restored from the back-forward cache starts again, with a gap.
  function onPageShow(e) {
    if (!e.persisted || !resumeOnShow) return;
    resumeOnShow = false;
    emit("gap", { reason: "closed" });
    start({ transport: preferred, interval: ownInterval }).catch(() => {});
  }

  /**
   * start opens the page's script session and begins receiving reverse
   * calls. transport: "auto" (the default: WebSocket, falling back to SSE
   * when the socket cannot open, and to long-poll when streaming fails or
   * is buffered; what worked is remembered for a day), "websocket",
   * "sse", "longpoll", "poll" (every `interval` ms, or the server's
   * advised interval if that is longer), or "passive" (only on the
   * replies to calls). The server may advise polling while it is loaded;
   * the page follows, and comes back when advised. With a held transport
   * the tabs of a browser share one connection, held by one of them, unless
   * `share` is false; a page that cannot share polls instead of holding a
   * connection when the server says the browser holds 4 or more already.
   */
  async function start({ transport = "auto", interval: ms, share: shareOption = true } = {}) {
    if (running) return;
    if (!TRANSPORTS.includes(transport)) {
      throw new ParleyError("invalid_argument", `unknown transport ${transport}`);
    }
    if (transport !== "auto" && !transports[transport].usable()) {
      throw new ParleyError("unimplemented", `this browser cannot use the transport ${transport}`);
    }
    preferred = transport;
    if (transport === "auto") {
      const choice = remembered();
      if (choice) COMETS.slice(0, COMETS.indexOf(choice)).forEach((t) => skipped.add(t));
    }
    ownInterval = ms > 0 ? ms : 0;
    if (ownInterval) interval = ownInterval;
    advisedPoll = false;
    current = transport === "auto" ? comet() : transport;
    share = shareOption !== false;
    running = true;
    const sharing = share && canShare() && (transport === "auto" || COMETS.includes(transport));
    if (sharing) {
      role = "follower";
      sharedTransport = "";
      channel = new ChannelClass(shareName);
      channel.addEventListener("message", onChannel);
    }
    try {
      await ensureSession();
    } catch (err) {
      running = false;
      leaveShare();
      setState("idle");
      throw err;
    }
    setState("connected");
    if (!listening && globalThis.addEventListener) {
      listening = true;
      globalThis.addEventListener("online", onOnline);
      globalThis.addEventListener("offline", onOffline);
      globalThis.addEventListener("pagehide", onPageHide);
      globalThis.document?.addEventListener?.("freeze", onFreeze);
      globalThis.document?.addEventListener?.("resume", onResume);
      globalThis.addEventListener("pageshow", onPageShow);
    }
    if (sharing) shareLoop();
    else receiveLoop();
  }

  // leaveShare ends the page's part in sharing: it leaves the lock's queue
  // (or releases the lock, once its receive loop ends) and the channel.
  function leaveShare() {
    role = "";
    lockWait?.abort();
    lockWait = null;
    channel?.close();
    channel = null;
    clearTimeout(muxAckTimer);
    muxAckTimer = null;
    peers.clear();
  }

  /** stop ends reverse Ajax for the page; calls still work. */
  function stop() {
    if (running && session) sendAck(session);
    if (running && session && role) tell({ t: "bye", tab, session });
    running = false;
    leaveShare();
    wake();
    setState("idle");
  }

  return {
    call,
    batch,
    configure,
    expose,
    subscribe,
    unsubscribe,
    start,
    stop,
    on,
    get state() {
      return state;
    },
    get transport() {
      if (!running) return "";
      return role === "follower" && sharedTransport ? sharedTransport : current;
    },
    get session() {
      return session;
    },
    get role() {
      return role;
    },
    ParleyError,
  };
}

const parley = createClient({ base: new URL(".", import.meta.url).href });
export default parley;
