// The reference client of docs/protocol.md, shared by /play and /host: the protocol only,
// no DOM (the pages' shared rendering is dom.js).
//
// One QuizConnection is one participant of one quiz.  It owns the WebSocket, sends the
// `join` (a fresh one or a resume, whichever the page's join() says now), matches replies
// to requests by `id`/`re`, and reconnects after a drop with exponential backoff and
// jitter, so that a thousand phones that lost the same node do not come back in the same
// millisecond.  A link that died silently (Wi-Fi gone, a NAT that forgot us) sends no
// close, so it also watches for silence: after LIVENESS_IDLE_MS without a word from the
// server it sends a `ping`, and a `ping` left unanswered means the link is dead.  Only the
// server's close codes that mean "do not come back" (leave, kicked, replaced, quiz over,
// abuse) end it for good; a socket it closes itself never does.

/** Close codes after which reconnecting would be wrong (protocol.md §1.2). */
export const FINAL_CLOSES = new Map([
  [1000, "left"],
  [1008, "closed for abuse"],
  [1009, "message too big"],
  [4001, "kicked"],
  [4002, "opened in another tab"],
  [4004, "quiz over"],
]);

/** Join errors after which retrying the same join cannot help. */
export const FINAL_JOIN_ERRORS = new Set([
  "quiz_not_found", "quiz_ended", "quiz_full", "name_invalid", "name_taken",
  "invalid_resume_token", "not_host", "wrong_phase", "invalid_message",
]);

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const REQUEST_TIMEOUT_MS = 10000;
// The server answers a join within 10 s, with server_busy at worst: wait a little longer.
const JOIN_TIMEOUT_MS = 15000;
const OPEN_TIMEOUT_MS = 10000;
const LIVENESS_IDLE_MS = 10000;
const LIVENESS_TIMEOUT_MS = 5000;
const LEAVE_TIMEOUT_MS = 5000;

/** What the node tells its pages (/web/config.json): where the WebSocket listens and
 * where player names come from (`names`: "given", "generated" or "both"). */
export async function pageConfig() {
  const response = await fetch("/web/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return response.json();
}

/** Where the WebSocket listens: the node tells (it is another port, maybe another host). */
export async function webSocketUrl() {
  const config = await pageConfig();
  if (config.wsUrl) return config.wsUrl;
  const scheme = config.wsTls ? "wss" : "ws";
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  return `${scheme}://${host}:${config.wsPort}/ws`;
}

/** Backoff before reconnect attempt `attempt` (0-based): a random wait between half and all
 * of 0.5 s · 2^n, capped at 10 s (jitter spreads a crowd; the half floor keeps it a backoff). */
export function backoffMs(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** A protocol `error` payload raised as an exception: `.code`, `.message`, `.details`. */
export class QuizError extends Error {
  constructor(payload) {
    super(payload.message || payload.code);
    this.code = payload.code;
    this.details = payload.details || {};
  }
}

/**
 * A participant's connection.
 *
 * options.join()       -> the `join` payload to send now (resume token once there is one)
 * options.onMessage(m) -> every server message, replies included ({type, payload, re?})
 * options.onStatus(s)  -> {state: "connecting"|"joined"|"retrying"|"final", ...}
 *   retrying: {inMs, reason}; final: {reason, code?, error?} (error = a QuizError of a join)
 */
export class QuizConnection {
  constructor(url, { join, onMessage, onStatus }) {
    this.url = url;
    this.join = join;
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.socket = null;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.finished = false;
    this.retryTimer = null;
    this.openTimer = null;
    this.livenessTimer = null;
    this.leaveTimer = null;
    this.lastHeard = 0;
  }

  /** Connect and join; on a drop, reconnect and resume until a final close.  Does nothing
   * while already connected or waiting to reconnect (a double click opens one socket). */
  start() {
    if (this.socket !== null || this.retryTimer !== null) return;
    this.finished = false;
    this._connect();
  }

  /** Send a message; resolves with the reply carrying its `re`, rejects with a QuizError.
   * A request left unanswered makes the connection check the link at once. */
  request(type, payload = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QuizError({ code: "timeout", message: `no reply to ${type}` }));
        if (type !== "ping" && type !== "join") this._checkLiveness();
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this._send({ type, payload, id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new QuizError({ code: "not_connected", message: "not connected; reconnecting" }));
      }
    });
  }

  /** Leave the quiz for good.  Returns false when not connected: nothing was sent and the
   * participant is still in.  Otherwise the outcome comes as a final status: the server's
   * close 1000 once it has removed us, or `unconfirmed: true` when no close came within
   * 5 s (the leave may have been lost on a dying link: the participant may still be in). */
  leave() {
    if (!this._send({ type: "leave", payload: {} })) return false;
    this.finished = true;
    this._stopTimers();
    const socket = this.socket;
    this.leaveTimer = setTimeout(() => {
      if (socket !== this.socket) return;
      this._drop(socket);
      this.onStatus({ state: "final", reason: "leave not confirmed", unconfirmed: true });
    }, LEAVE_TIMEOUT_MS);
    return true;
  }

  /** Stop without leaving (the participant keeps its place and may resume later).  No
   * status follows: the caller knows. */
  stop() {
    this.finished = true;
    this._stopTimers();
    if (this.socket) this._drop(this.socket);
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  _send(message) {
    if (!this.connected) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  _stopTimers() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.openTimer);
    clearTimeout(this.livenessTimer);
    clearTimeout(this.leaveTimer);
    this.retryTimer = this.openTimer = this.livenessTimer = this.leaveTimer = null;
  }

  _connect() {
    this._stopTimers();
    this.onStatus({ state: "connecting", attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this._finish({ reason: `cannot open ${this.url}: ${error.message}` });
      return;
    }
    this.socket = socket;
    // A handshake stuck in a dead network would otherwise wait for the OS's own timeout.
    this.openTimer = setTimeout(() => this._lost(socket, "could not connect"), OPEN_TIMEOUT_MS);
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      clearTimeout(this.openTimer);
      this._heard();
      this._joinNow(socket);
    });
    socket.addEventListener("message", (event) => this._receive(socket, event));
    socket.addEventListener("close", (event) => this._closed(socket, event));
  }

  async _joinNow(socket) {
    try {
      const reply = await this.request("join", this.join(), JOIN_TIMEOUT_MS);
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.onStatus({ state: "joined", payload: reply.payload });
    } catch (error) {
      if (socket !== this.socket) return;
      if (error.code === "server_busy") {
        // The quiz is moving to another node: try again when the server says.
        this._drop(socket);
        const wait = (error.details.retryAfterMs || 500) + Math.round(Math.random() * 250);
        this._retryIn(wait, "the quiz is moving to another server");
      } else if (FINAL_JOIN_ERRORS.has(error.code)) {
        this._drop(socket);
        this._finish({ reason: error.message, error });
      } else {
        this._lost(socket, "the server did not answer");  // timeout, internal: try again
      }
    }
  }

  /** Give up on `socket` (ours to close) and reconnect after the backoff. */
  _lost(socket, reason) {
    if (socket !== this.socket || this.finished) return;
    this._drop(socket);
    this._retryIn(backoffMs(this.attempt++), reason);
  }

  /** Note that the server spoke, and plan the next check for silence. */
  _heard() {
    this.lastHeard = performance.now();
    clearTimeout(this.livenessTimer);
    this.livenessTimer = setTimeout(() => this._checkLiveness(), LIVENESS_IDLE_MS);
  }

  /** Ask the server for a `pong`; none within LIVENESS_TIMEOUT_MS means the link is dead. */
  async _checkLiveness() {
    const socket = this.socket;
    if (socket === null || !this.connected) return;
    try {
      await this.request("ping", {}, LIVENESS_TIMEOUT_MS);
    } catch (error) {
      // not_joined: the join itself is still on its way, and its own timeout covers it.
      if (error.code === "timeout") this._lost(socket, "connection lost");
    }
  }

  /** Close `socket` without its close event counting (the caller decides what follows);
   * what was waiting for a reply on it fails with `not_connected`. */
  _drop(socket) {
    this.socket = null;
    clearTimeout(this.openTimer);
    clearTimeout(this.livenessTimer);
    this._failPending("connection lost");
    socket.close(1000);
  }

  _failPending(message) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new QuizError({ code: "not_connected", message }));
    }
    this.pending.clear();
  }

  _receive(socket, event) {
    if (socket !== this.socket) return;
    if (!this.finished) this._heard();
    if (typeof event.data !== "string") return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.re !== undefined && this.pending.has(message.re)) {
      const { resolve, reject, timer } = this.pending.get(message.re);
      clearTimeout(timer);
      this.pending.delete(message.re);
      if (message.type === "error") reject(new QuizError(message.payload));
      else resolve(message);
    }
    this.onMessage(message);
  }

  _closed(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    clearTimeout(this.openTimer);
    clearTimeout(this.livenessTimer);
    clearTimeout(this.leaveTimer);
    this._failPending("connection closed");
    if (this.finished) {
      this.onStatus({ state: "final", reason: FINAL_CLOSES.get(event.code) || "stopped", code: event.code });
      return;
    }
    if (FINAL_CLOSES.has(event.code)) {
      this._finish({ reason: FINAL_CLOSES.get(event.code), code: event.code });
      return;
    }
    if (this.retryTimer === null) {
      this._retryIn(backoffMs(this.attempt++), event.code === 1012 ? "server restarting" : "connection lost");
    }
  }

  _retryIn(ms, reason) {
    clearTimeout(this.retryTimer);
    this.onStatus({ state: "retrying", inMs: ms, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.finished) this._connect();
    }, ms);
  }

  _finish(status) {
    this.finished = true;
    this._stopTimers();
    this.onStatus({ state: "final", ...status });
  }
}
