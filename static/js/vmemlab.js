/* vmemlab core: page config, the JSON API client, formatting, and the live feeds (websockets).
 *
 * A LiveFeed connects to one websocket path, shows its state in a status element if it has one,
 * reconnects with exponential backoff after a drop, and tells its listeners when it is back so
 * they can backfill the gap (from the stats endpoint, or by refetching the inventory tree).
 * Close codes 4401/4403/4404 are final (log in again, no permission, no such object): no retry.
 * The object pages' feed is /ws/perf/{kind}/{id}/ in #live-status; inventory.js opens the
 * inventory feed on every page.
 */
(function () {
  "use strict";

  const configElement = document.getElementById("page-config");
  const config = configElement ? JSON.parse(configElement.textContent) : {};

  // ------------------------------------------------------------------ formatting

  const numberFormats = {};
  function formatNumber(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    const key = String(digits || 0);
    if (!numberFormats[key]) {
      numberFormats[key] = new Intl.NumberFormat("en-US", {
        minimumFractionDigits: digits || 0,
        maximumFractionDigits: digits || 0,
      });
    }
    return numberFormats[key].format(value);
  }

  /* Plotly renders a subset of HTML in names and titles: anything from a user is escaped. */
  function plotlyText(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function safeFilename(text) {
    return String(text).replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60) || "chart";
  }

  // ------------------------------------------------------------------ the JSON API

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* Resolves to {ok, status, data}; data is the parsed JSON body, or {error: "..."} when the
   * server answered something else. Never rejects for an HTTP error. */
  async function api(method, url, body) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    };
    if (method !== "GET" && method !== "HEAD") {
      options.headers["X-CSRFToken"] = csrfToken();
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body === undefined ? {} : body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      return { ok: false, status: 0, data: { error: "The server cannot be reached." } };
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.indexOf("json") !== -1) {
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
    }
    if (data === null || typeof data !== "object") {
      data = response.ok ? {} : { error: "The server answered " + response.status + " " + response.statusText + "." };
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  function describeFields(fields, prefix) {
    const parts = [];
    Object.keys(fields || {}).forEach(function (name) {
      const value = fields[name];
      const label = prefix ? prefix + "." + name : name;
      if (value && typeof value === "object" && !Array.isArray(value)) {
        parts.push.apply(parts, describeFields(value, label));
      } else {
        parts.push(label + ": " + (Array.isArray(value) ? value.join(" ") : value));
      }
    });
    return parts;
  }

  // ------------------------------------------------------------------ the live feed

  const FINAL_CLOSES = {
    4401: "Not logged in: reload the page to log in again.",
    4403: "No permission to watch this object.",
    4404: "This object no longer exists.",
  };
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const PING_EVERY_MS = 25000;

  /* options.messages: the server message types passed on to listeners (by their "type");
   * options.statusElement: where to show the connection state, if anywhere. */
  function LiveFeed(path, options) {
    const feed = this;
    this.path = path;
    this.messageTypes = options.messages;
    this.listeners = { reconnected: [], status: [] };
    this.messageTypes.forEach(function (type) {
      feed.listeners[type] = [];
    });
    this.attempt = 0;
    this.everOpened = false;
    this.stopped = false;
    this.socket = null;
    this.pingTimer = null;
    this.retryTimer = null;
    this.statusElement = options.statusElement || null;
  }

  LiveFeed.prototype.on = function (event, callback) {
    this.listeners[event].push(callback);
    return this;
  };

  LiveFeed.prototype.emit = function (event, payload) {
    this.listeners[event].forEach(function (callback) {
      try {
        callback(payload);
      } catch (error) {
        console.error("vmemlab: a " + event + " listener failed", error);
      }
    });
  };

  LiveFeed.prototype.setStatus = function (state, text) {
    this.state = state;
    if (this.statusElement) {
      this.statusElement.dataset.state = state;
      this.statusElement.textContent = text;
    }
    this.emit("status", { state: state, text: text });
  };

  LiveFeed.prototype.connect = function () {
    if (this.stopped) return;
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + this.path);
    this.socket = socket;
    const feed = this;
    socket.addEventListener("open", function () {
      const again = feed.everOpened;
      feed.everOpened = true;
      feed.attempt = 0;
      feed.setStatus("live", "Live");
      clearInterval(feed.pingTimer);
      feed.pingTimer = setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY_MS);
      if (again) feed.emit("reconnected", {});
    });
    socket.addEventListener("message", function (event) {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message === null || typeof message !== "object") return;
      if (feed.messageTypes.indexOf(message.type) !== -1) feed.emit(message.type, message);
      else if (message.type === "error") console.warn("vmemlab live feed " + feed.path + ":", message.error);
    });
    socket.addEventListener("close", function (event) {
      clearInterval(feed.pingTimer);
      if (feed.socket !== socket) return;
      if (FINAL_CLOSES[event.code]) {
        feed.stopped = true;
        feed.setStatus("closed", FINAL_CLOSES[event.code]);
        return;
      }
      feed.scheduleRetry();
    });
  };

  LiveFeed.prototype.scheduleRetry = function () {
    if (this.stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, this.attempt));
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.setStatus("reconnecting", "Reconnecting… (retry in " + Math.ceil(delay / 1000) + " s)");
    const feed = this;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(function () {
      feed.connect();
    }, delay);
  };

  /* Drop the connection as a network failure would (used by the browser tests' helpers). */
  LiveFeed.prototype.interrupt = function () {
    if (this.socket) this.socket.close(4000, "interrupted");
  };

  // ------------------------------------------------------------------ live values on Summary pages

  function bindLiveValues(feed) {
    feed.on("sample", function (message) {
      const values = message.values || {};
      document.querySelectorAll("[data-live]").forEach(function (element) {
        const value = values[element.dataset.live];
        if (value === undefined || value === null) return;
        element.textContent =
          element.dataset.unit === "mb" ? formatNumber(value / 1024, 0)
          : element.dataset.unit === "pct" ? formatNumber(value, 1)
          : formatNumber(value, 0);
      });
      document.querySelectorAll("[data-live-free]").forEach(function (element) {
        const used = values[element.dataset.liveFree];
        if (used === undefined || used === null) return;
        element.textContent = formatNumber(Math.max(0, Number(element.dataset.ofKb) - used) / 1024, 0);
      });
      document.querySelectorAll("[data-live-bar]").forEach(function (element) {
        const value = values[element.dataset.liveBar];
        const whole = Number(element.dataset.ofKb);
        if (value === undefined || value === null || !whole) return;
        element.style.width = Math.max(0, Math.min(100, (100 * value) / whole)).toFixed(1) + "%";
      });
      document.querySelectorAll("[data-live-saving]").forEach(function (element) {
        if (values["mem.shared"] === undefined || values["mem.sharedcommon"] === undefined) return;
        element.textContent = formatNumber(Math.max(0, values["mem.shared"] - values["mem.sharedcommon"]) / 1024, 0);
      });
      document.querySelectorAll("[data-live-ts]").forEach(function (element) {
        element.textContent = message.ts.replace("T", " ").replace(/\+00:00$|Z$/, "") + " UTC";
      });
    });
  }

  const feed = config.wsPath
    ? new LiveFeed(config.wsPath, {
        messages: ["sample", "advanced"],
        statusElement: document.getElementById("live-status"),
      })
    : null;

  window.vmemlab = {
    config: config,
    feed: feed,
    LiveFeed: LiveFeed,
    api: api,
    describeFields: describeFields,
    formatNumber: formatNumber,
    plotlyText: plotlyText,
    safeFilename: safeFilename,
    bindLiveValues: bindLiveValues,
  };

  if (feed) {
    // Listeners attach in the other deferred scripts; connect once they all ran.
    document.addEventListener("DOMContentLoaded", function () {
      feed.connect();
    });
  }
})();
