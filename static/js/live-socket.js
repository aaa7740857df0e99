/* A live feed over a websocket that comes back after a drop, and the backfill of what it missed.
 *
 * A LiveSocket connects to one path, shows its state in a status element if it has one,
 * reconnects with exponential backoff and jitter after a drop, and emits "reconnected" when it is
 * back so that its listeners can fetch the gap (a Backfill from the stats endpoint, or a refetch
 * of the inventory tree). Close codes 4401/4403/4404 are final (log in again, no permission, no
 * such object): no retry.
 */

const FINAL_CLOSES = {
  4401: "Not logged in: reload the page to log in again.",
  4403: "No permission to watch this object.",
  4404: "This object no longer exists.",
};
export const BACKOFF_FIRST_MS = 1000;
export const BACKOFF_MAX_MS = 30000;
const PING_EVERY_MS = 25000; // below the idle timeouts of common proxies (often 30 or 60 s)

/* The wait before reconnect attempt `attempt` (0 first): doubling up to the cap, with the upper
 * half drawn at random so that tabs dropped together do not come back together. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return base / 2 + random() * (base / 2);
}

export class LiveSocket {
  /* messages: the server message types passed on to listeners (by their "type");
   * statusElement: where to show the connection state, if anywhere. */
  constructor(path, { messages, statusElement = null }) {
    this.path = path;
    this.messageTypes = messages;
    this.listeners = { reconnected: [], status: [] };
    for (const type of messages) this.listeners[type] = [];
    this.statusElement = statusElement;
    this.attempt = 0;
    this.everOpened = false;
    this.stopped = false;
    this.socket = null;
    this.pingTimer = null;
    this.retryTimer = null;
    this.state = "connecting";
  }

  on(event, callback) {
    this.listeners[event].push(callback);
    return this;
  }

  emit(event, payload) {
    for (const callback of this.listeners[event]) {
      try {
        callback(payload);
      } catch (error) {
        console.error(`vmemlab: a ${event} listener failed`, error);
      }
    }
  }

  setStatus(state, text) {
    this.state = state;
    if (this.statusElement) {
      this.statusElement.dataset.state = state;
      this.statusElement.textContent = text;
    }
    this.emit("status", { state, text });
  }

  connect() {
    if (this.stopped) return;
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    let socket;
    try {
      socket = new WebSocket(scheme + window.location.host + this.path);
    } catch (error) {
      // Refused before any connection (a SecurityError from the page's policy, say): retry.
      console.warn(`vmemlab live feed ${this.path}:`, error);
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      const again = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.setStatus("live", "Live");
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY_MS);
      if (again) this.emit("reconnected", {});
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message === null || typeof message !== "object") return;
      if (this.messageTypes.includes(message.type)) this.emit(message.type, message);
      else if (message.type === "error") console.warn(`vmemlab live feed ${this.path}:`, message.error);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(this.pingTimer);
      if (this.socket !== socket) return;
      if (FINAL_CLOSES[event.code]) {
        this.stopped = true;
        this.setStatus("closed", FINAL_CLOSES[event.code]);
        return;
      }
      this.scheduleRetry();
    });
  }

  scheduleRetry() {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setStatus("reconnecting", `Reconnecting… (retry in ${Math.ceil(delay / 1000)} s)`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}

/* Fetches what a live series missed, one request at a time: `load(since)` asks for everything
 * after `since` (an ISO time; the stats start is exclusive). A request made while one runs is
 * kept, and only the earliest start of those is asked for next, so a burst of holes costs one
 * more request, and no hole is skipped. */
export class Backfill {
  constructor(load) {
    this.load = load;
    this.running = null;
    this.pending = null;
  }

  request(since) {
    if (this.running) {
      if (this.pending === null || Date.parse(since) < Date.parse(this.pending)) this.pending = since;
      return this.running;
    }
    this.running = (async () => {
      let next = since;
      while (next !== null) {
        try {
          await this.load(next);
        } catch (error) {
          console.error("vmemlab: a backfill failed", error);
        }
        next = this.pending;
        this.pending = null;
      }
      this.running = null;
    })();
    return this.running;
  }
}
