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
