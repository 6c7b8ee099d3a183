// Replies of a fake network for the runtime's tests: what fetch resolves
// to for a JSON body, or for an event stream that sends text and ends.

export function jsonReply(status, body) {
  return {
    status,
    ok: status < 300,
    redirected: false,
    headers: new Headers({ "Content-Type": "application/json" }),
    json: async () => body,
  };
}

export function streamReply(text) {
  let sent = false;
  return {
    status: 200,
    ok: true,
    redirected: false,
    headers: new Headers({ "Content-Type": "text/event-stream; charset=utf-8" }),
    body: {
      getReader: () => ({
        read: async () => {
          if (sent) return { done: true };
          sent = true;
          return { done: false, value: new TextEncoder().encode(text) };
        },
        cancel: async () => {},
      }),
    },
  };
}

// fakeWebSockets returns a WebSocket class to give createClient, and the
// sockets made with it, in order. A test plays the server through each
// socket's open, accept, frame, fail and end; what the page sent is in
// sent (parsed), and the code it closed with in closedWith.
export function fakeWebSockets() {
  const sockets = [];
  class FakeWebSocket extends EventTarget {
    constructor(url) {
      super();
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = undefined;
      sockets.push(this);
    }

    send(text) {
      if (this.readyState !== 1) throw new Error("InvalidStateError: the socket is not open");
      this.sent.push(JSON.parse(text));
    }

    // close is the page closing; the close event follows, as in browsers.
    close(code = 1005) {
      if (this.readyState >= 2) return;
      this.closedWith = code;
      this.readyState = 2;
      queueMicrotask(() => this.end(code));
    }

    // open completes the upgrade.
    open() {
      this.readyState = 1;
      this.dispatchEvent(new Event("open"));
    }

    // accept completes the upgrade and sends the open frame, with extra
    // fields (such as advice).
    accept(extra = {}) {
      this.open();
      this.frame({ open: true, ...extra });
    }

    // frame sends a text frame: an object as JSON, or a string as is.
    frame(data) {
      this.dispatchEvent(Object.assign(new Event("message"), { data: typeof data === "string" ? data : JSON.stringify(data) }));
    }

    // fail is a socket that breaks or an upgrade that is refused.
    fail() {
      this.dispatchEvent(new Event("error"));
      this.end(1006);
    }

    // end closes the socket with code.
    end(code = 1000) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.dispatchEvent(Object.assign(new Event("close"), { code, reason: "", wasClean: code !== 1006 }));
    }

    // calls returns the call frames the page sent.
    calls() {
      return this.sent.filter((f) => f.re !== undefined);
    }

    // acks returns the acks of the ack frames the page sent.
    acks() {
      return this.sent.filter((f) => f.re === undefined).map((f) => f.ack);
    }
  }
  return { WebSocket: FakeWebSocket, sockets };
}

// memoryStorage is a Storage in memory.
export function memoryStorage(entries = {}) {
  const m = new Map(Object.entries(entries));
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    map: m,
  };
}

// fakeLocks is the Web Locks of one browser: an exclusive lock per name,
// granted in the order asked. tab() returns the navigator.locks of one tab;
// its close() is the tab closing or crashing: its lock is released and its
// requests leave the queue. holder(name) is the tab holding name.
export function fakeLocks() {
  const queues = new Map();
  function pump(name) {
    const q = queues.get(name) ?? [];
    const r = q[0];
    if (!r || r.held) return;
    r.held = true;
    Promise.resolve()
      .then(() => r.callback({ name, mode: "exclusive" }))
      .then(
        (v) => release(r) && r.resolve(v),
        (err) => release(r) && r.reject(err),
      );
  }
  function release(r) {
    const q = queues.get(r.name) ?? [];
    const i = q.indexOf(r);
    if (i < 0) return false;
    q.splice(i, 1);
    pump(r.name);
    return true;
  }
  let tabs = 0;
  return {
    holder: (name) => queues.get(name)?.find((r) => r.held)?.tab,
    names: () => [...queues.keys()],
    tab() {
      const id = ++tabs;
      const mine = new Set();
      return {
        id,
        request(name, options, callback) {
          if (typeof options === "function") [options, callback] = [{}, options];
          return new Promise((resolve, reject) => {
            const r = { name, tab: id, callback, resolve, reject, held: false };
            if (options?.signal?.aborted) {
              reject(Object.assign(new Error("aborted"), { name: "AbortError" }));
              return;
            }
            options?.signal?.addEventListener("abort", () => {
              if (r.held) return;
              if (release(r)) reject(Object.assign(new Error("aborted"), { name: "AbortError" }));
            });
            mine.add(r);
            if (!queues.has(name)) queues.set(name, []);
            queues.get(name).push(r);
            pump(name);
          });
        },
        close() {
          for (const r of mine) release(r);
          mine.clear();
        },
      };
    },
  };
}

// fakeChannels is the BroadcastChannels of one browser: a message posted
// on a channel reaches every other open channel of the same name, as a
// structured clone, in order. tab() returns the BroadcastChannel class of
// one tab; its close() closes the tab's channels. log holds every message
// posted, as {tab, data}.
export function fakeChannels() {
  const open = new Set();
  const log = [];
  let tabs = 0;
  return {
    log,
    tab() {
      const id = ++tabs;
      const mine = new Set();
      class FakeBroadcastChannel extends EventTarget {
        constructor(name) {
          super();
          this.name = name;
          this.closed = false;
          open.add(this);
          mine.add(this);
        }

        postMessage(data) {
          if (this.closed) throw new Error("InvalidStateError: the channel is closed");
          log.push({ tab: id, data: structuredClone(data) });
          for (const c of open) {
            if (c === this || c.name !== this.name) continue;
            const copy = structuredClone(data);
            // A task, as in browsers: after the sender's microtasks.
            setImmediate(() => {
              if (!c.closed) c.dispatchEvent(new MessageEvent("message", { data: copy }));
            });
          }
        }

        close() {
          this.closed = true;
          open.delete(this);
        }
      }
      return {
        id,
        BroadcastChannel: FakeBroadcastChannel,
        close() {
          for (const c of mine) c.close();
        },
      };
    },
  };
}
