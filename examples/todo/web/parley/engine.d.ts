// Types of the Parley runtime, served at /parley/engine.d.ts next to
// /parley/engine.js. The .d.ts of every service, at
// /parley/interface/NAME.d.ts, imports its shared types from here.

/** Parley's closed set of error codes. */
export type ErrorCode =
  | "canceled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated";

/** An error from a call: `code` is one of Parley's error codes. */
export declare class ParleyError extends Error {
  constructor(code: ErrorCode, message: string, details?: unknown);
  name: "ParleyError";
  code: ErrorCode;
  /** details are what the server sent with the error, if anything. */
  details: unknown;
}

/** Options of one call, the last argument of every generated stub. */
export interface CallOptions {
  /** timeout is how many milliseconds to wait for the reply before rejecting with deadline_exceeded. */
  timeout?: number;
  /** signal rejects the call with canceled when aborted. */
  signal?: AbortSignal;
  /** headers are extra HTTP headers for the request; calls with different headers go in different requests. */
  headers?: Record<string, string>;
}

/**
 * CallbackOptions are CallOptions in DWR style: the result goes to
 * `callback` and a failure to `errorHandler` (at least one of them), and
 * the call's Promise resolves to undefined once they ran. A failure with
 * no errorHandler raises an `error` event.
 */
export type CallbackOptions<T = unknown> = CallOptions &
  (
    | { callback: (result: T) => void; errorHandler?: (message: string, error: ParleyError) => void }
    | { callback?: (result: T) => void; errorHandler: (message: string, error: ParleyError) => void }
  );

/** A way to receive reverse calls, as start() takes it. */
export type Transport = "auto" | "websocket" | "sse" | "longpoll" | "poll" | "passive";

/** The transport in use: what "auto" became, or "" when not started. */
export type ActiveTransport = Exclude<Transport, "auto"> | "";

/** Options of start(). */
export interface StartOptions {
  /**
   * transport: "auto" (the default: WebSocket, falling back to SSE when the
   * socket cannot open, and to long-poll when streaming fails or is
   * buffered; what worked is remembered for a day), "websocket", "sse",
   * "longpoll", "poll" (every `interval` ms, or the server's advised
   * interval if that is longer), or "passive" (only on the replies to
   * calls). Over "websocket", calls without a signal, uploads or headers of
   * their own go over the socket too.
   */
  transport?: Transport;
  /** interval is the time between polls in milliseconds, for "poll". */
  interval?: number;
  /**
   * share lets the tabs of a browser (same origin and base) share one held
   * connection: one tab, elected with the Web Locks API, holds it for every
   * tab's session and passes each its own reverse calls over a
   * BroadcastChannel; when it goes, the next tab takes over. It applies to
   * "auto", "websocket", "sse" and "longpoll". Without Web Locks or
   * BroadcastChannel each tab holds its own connection, and polls instead
   * when the browser already holds 4. true by default; false: this tab
   * holds its own connection whatever the others do.
   */
  share?: boolean;
}

/** The state of the page's connection for reverse calls. */
export type State = "idle" | "connecting" | "connected" | "reconnecting" | "offline";

/** Why a session ended, as the server says in a reset. */
export type ResetReason = "expired" | "overflow" | "closed" | "evicted" | "shutdown";

/**
 * A gap: reverse calls may have been missed, so the page should reload its
 * state. Either the session ended (and a new one is opened), or messages
 * from..to never arrived.
 */
export type Gap = { reason: ResetReason } | { reason: "sequence"; from: number; to: number };

/** The events of on() and what their listeners receive. */
export interface Events {
  /** state: the connection's new state. */
  state: State;
  /** gap: reverse calls may have been missed. */
  gap: Gap;
  /** error: a failure with nobody else to tell (a ParleyError, or what an exposed function threw). */
  error: unknown;
  /** transport: the transport switched to, after advice or a fallback. */
  transport: Exclude<Transport, "auto" | "passive">;
}

/** Options of batch(). */
export interface BatchOptions {
  /** ordered runs the calls one after another in call order; by default they run concurrently. */
  ordered?: boolean;
  /** headers are sent with the request, over the configured defaults. */
  headers?: Record<string, string>;
}

/** Defaults for every later call, as configure() takes them. */
export interface Defaults {
  /** timeout in milliseconds; 0 for none. */
  timeout?: number;
  /** headers sent with every request; null removes them. */
  headers?: Record<string, string> | null;
}

/** A Parley client: the default export, or one made by createClient(). */
export interface Client {
  /**
   * call sends one call, batched with the others of the same tick. With
   * `callback` or `errorHandler` (DWR style) the Promise resolves to
   * undefined after them and never rejects.
   */
  call<T = unknown>(service: string, method: string, args: unknown[] | undefined, options: CallbackOptions<T>): Promise<void>;
  /** call sends one call and returns a Promise of its result that rejects with a ParleyError. */
  call<T = unknown>(service: string, method: string, args?: unknown[], options?: CallOptions): Promise<T>;
  /** batch sends every call made while fn runs in one request, and returns what fn returns. */
  batch<T>(fn: () => T, options?: BatchOptions): T;
  /** configure sets defaults for every later call; a call's own options override them. */
  configure(options?: Defaults): void;
  /**
   * expose registers what the server may call: a function under a name, or
   * an object whose methods are called as NAME.method. Names starting with
   * "parley" are reserved.
   */
  expose(name: string, target: ((...args: never[]) => unknown) | object): void;
  /**
   * subscribe calls fn(data, topic) for everything published to a topic
   * matching pattern ("*" is one segment, a final "**" any depth below). It
   * resolves, once the server has the subscription, to a function that
   * unsubscribes fn.
   */
  subscribe(pattern: `/${string}`, fn: (data: unknown, topic: string) => void): Promise<() => Promise<void>>;
  /** unsubscribe removes fn from pattern's callbacks, or all of them if fn is omitted. */
  unsubscribe(pattern: string, fn?: (data: unknown, topic: string) => void): Promise<void>;
  /** start opens the page's script session and begins receiving reverse calls. */
  start(options?: StartOptions): Promise<void>;
  /** stop ends reverse Ajax for the page; calls still work. */
  stop(): void;
  /** on adds a listener of an event and returns a function that removes it. */
  on<K extends keyof Events>(type: K, fn: (detail: Events[K]) => void): () => boolean;
  /** state is the connection's state. */
  readonly state: State;
  /** transport is the transport in use, or "" when not started. */
  readonly transport: ActiveTransport;
  /**
   * role is "leader" in the one tab of this browser that holds the shared
   * connection, "follower" in the others (which receive through it),
   * "" when not started or when the tab holds a connection of its own
   * (sharing off or unavailable, polling, passive).
   */
  readonly role: "" | "leader" | "follower";
  /** session is the script session's id, or "" when there is none. */
  readonly session: string;
  /** ParleyError is the class of the errors calls reject with. */
  readonly ParleyError: typeof ParleyError;
}

/** Options of createClient(). */
export interface ClientOptions {
  /** base is the server's prefix, ending in "/", such as "https://example.com/parley/". */
  base: string | URL;
  /** fetch replaces globalThis.fetch. */
  fetch?: typeof fetch;
  /** WebSocket replaces globalThis.WebSocket; null for a client without WebSocket. */
  WebSocket?: { new (url: string): WebSocket } | null;
  /** storage is where "auto" remembers the transport that worked; by default localStorage, null for nowhere. */
  storage?: Pick<Storage, "getItem" | "setItem"> | null;
  /** page returns the page's path; by default location.pathname. */
  page?: () => string;
  /** random returns a number in [0, 1) for the jitter of reconnections; by default Math.random. */
  random?: () => number;
  /** sseOpenTimeout is how many milliseconds a stream may take to open before it is taken as buffered; 3000 by default. */
  sseOpenTimeout?: number;
  /** wsOpenTimeout is how many milliseconds a WebSocket may take to send its open frame before it is taken as broken; 5000 by default. */
  wsOpenTimeout?: number;
  /** locks is the Web Locks manager the tabs elect their leader with; navigator.locks by default, null for none. */
  locks?: Pick<LockManager, "request"> | null;
  /** BroadcastChannel is the class the tabs talk over; globalThis.BroadcastChannel by default, null for none. */
  BroadcastChannel?: { new (name: string): BroadcastChannel } | null;
}

/** createClient returns an independent client, for tests and embedders. */
export declare function createClient(options: ClientOptions): Client;

/** topicMatches reports whether a subscription pattern matches a topic. */
export declare function topicMatches(pattern: string, topic: string): boolean;

/** The page's client. */
declare const parley: Client;
export default parley;
