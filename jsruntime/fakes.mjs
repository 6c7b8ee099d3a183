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
