/* Monitor > Performance: the Overview and Advanced charts with their legend and exports, and the
 * esxtop panel of a host. This module wires the pieces together:
 *
 * - the chart renders the timespan from stored samples (embedded in the page for the Overview,
 *   else fetched from the stats endpoint);
 * - in real time it appends what the websocket pushes with Plotly.extendTraces inside a moving
 *   window (the real-time interval's retention: an hour);
 * - after a reconnect, or a hole in the pushed timestamps, a Backfill asks the stats endpoint
 *   for everything after the last point held, so no point goes missing.
 */

import { api, describeFields } from "./api.js";
import { ChartModel, PerfChart } from "./chart.js";
import {
  checkedOptions,
  CUSTOM,
  defaultOptions,
  intervalFor,
  loadSaved,
  save,
  setupChartOptionsForm,
  timespanLabel,
} from "./chart-options.js";
import { setupEsxtop } from "./esxtop.js";
import { downloadCsv, fileStem } from "./export.js";
import { Backfill } from "./live-socket.js";
import { objectFeed } from "./object-feed.js";
import { config } from "./page-config.js";
import { SampleStore } from "./sample-store.js";

function startCharts() {
  const intervals = config.intervals; // [{seconds, retention, timespan, label}], finest first
  const realtime = intervals[0];
  const periodMs = realtime.seconds * 1000;
  const windowMs = realtime.retention * 1000;
  const catalogue = Object.fromEntries(config.counters.map((counter) => [counter.name, counter]));
  const overview = config.view === "overview";
  const clockMs = config.clock ? Date.parse(config.clock) : Date.now();
  const limits = { catalogue, overview: config.overview, intervals, maxCounters: config.maxCounters };
  const storageKey = `vmemlab.chartOptions.${config.kind}`;

  const chart = new PerfChart({
    element: document.getElementById("chart"),
    legendBody: document.querySelector("#legend tbody"),
  });
  const messageElement = document.getElementById("chart-message");
  const titleElement = document.getElementById("chart-title");
  const rangeElement = document.getElementById("chart-range");
  const store = new SampleStore();
  let options;
  let interval;
  let model;

  function isLive() {
    return options.timespan === realtime.timespan;
  }

  function titleText() {
    return `Memory, ${timespanLabel(intervals, options.timespan)}`;
  }

  /* Takes a choice of counters, timespan and chart type; the data is loaded afresh. */
  function use(chosen) {
    options = chosen;
    interval = intervalFor(options, { intervals, clockMs });
    model = new ChartModel({ keys: options.keys, chartType: options.chartType, catalogue, memoryInMB: overview });
    store.windowMs = isLive() ? windowMs : null;
    store.clear();
    titleElement.textContent = titleText();
  }

  function showMessage(text, isError = false) {
    messageElement.hidden = !text;
    messageElement.textContent = text;
    messageElement.classList.toggle("is-error", Boolean(text && isError));
  }

  function describeEmpty() {
    if (store.size) return "";
    if (config.kind === "vm" && !config.poweredOn) {
      return "No samples in this timespan: the VM is powered off (vSphere keeps no data for a powered-off VM).";
    }
    return isLive()
      ? "No samples yet: waiting for the host's next tick."
      : "No rolled-up samples in this timespan yet: rollups appear as simulated time passes (fast-forward the host to see them).";
  }

  function windowRange() {
    const last = store.lastMs();
    return isLive() && last !== null ? [new Date(last - windowMs), new Date(last)] : null;
  }

  function updateRangeText() {
    if (!store.size) {
      rangeElement.textContent = "";
      return;
    }
    const first = new Date(store.times[0]).toLocaleString();
    const last = new Date(store.lastMs()).toLocaleString();
    rangeElement.textContent = `${first} – ${last} · ${interval} s interval · simulated time`;
  }

  function draw() {
    chart.draw(model, store, { title: `${config.name} · ${titleText()}`, range: windowRange(), revision: options.timespan });
    updateRangeText();
  }

  function statsUrl(extra = {}) {
    const params = new URLSearchParams({ counters: options.keys.join(","), interval: String(interval), ...extra });
    return `${config.statsUrl}?${params}`;
  }

  function errorText(data) {
    const details = describeFields(data.fields);
    return (data.error || "The stats could not be loaded.") + (details.length ? ` ${details.join("; ")}` : "");
  }

  let loadSerial = 0; // a newer load supersedes what an older one brings

  async function loadRange() {
    const serial = (loadSerial += 1);
    const extra = {};
    if (options.timespan === CUSTOM) {
      extra.start = new Date(options.from).toISOString();
      extra.end = new Date(options.to).toISOString();
    }
    const result = await api("GET", statsUrl(extra));
    if (serial !== loadSerial) return;
    if (!result.ok) {
      showMessage(errorText(result.data), true);
      return;
    }
    store.clear();
    store.putStats(result.data, options.keys);
    draw();
    showMessage(describeEmpty());
  }

  const backfill = new Backfill(async (since) => {
    const serial = loadSerial;
    if (!isLive()) return;
    const result = await api("GET", statsUrl({ start: since }));
    if (serial !== loadSerial || !isLive()) return;
    if (!result.ok) {
      showMessage(errorText(result.data), true);
      return;
    }
    store.putStats(result.data, options.keys);
    store.trim();
    draw();
    showMessage(describeEmpty());
  });

  /* Everything after `since` (the stats start is exclusive); with nothing held, the whole range. */
  function fillFrom(since) {
    if (!isLive()) return;
    if (!store.size) loadRange();
    else backfill.request(since || store.lastIso());
  }

  function onSample(message) {
    if (!isLive() || !chart.drawn) return;
    const ms = Date.parse(message.ts);
    const hole = store.holeBefore(ms, periodMs); // missed before the socket opened, or lost
    const first = !store.size;
    const placed = store.putSample(message, options.keys);
    if (placed === "duplicate") return;
    store.trim();
    if (placed === "insert" || first) draw();
    else {
      chart.extend(model, store, windowRange(), Math.round(windowMs / periodMs));
      updateRangeText();
    }
    showMessage("");
    if (hole) fillFrom(hole);
  }

  use(config.view === "advanced" ? checkedOptions(loadSaved(storageKey), limits) : defaultOptions(config.overview));
  const embedded = document.getElementById("initial-stats");
  if (embedded && overview) {
    store.putStats(JSON.parse(embedded.textContent), options.keys);
    draw();
    showMessage(describeEmpty());
  } else {
    draw();
    loadRange();
  }
  if (config.view === "advanced") {
    setupChartOptionsForm({
      ...limits,
      clockMs,
      current: () => options,
      apply(chosen) {
        use(chosen);
        save(storageKey, chosen);
        loadRange();
      },
    });
  }
  document.getElementById("export-csv").addEventListener("click", () => {
    downloadCsv(model, store, fileStem(config.name, options.timespan));
  });
  document.getElementById("export-png").addEventListener("click", () => {
    chart.downloadPng(fileStem(config.name, options.timespan));
  });
  objectFeed.on("sample", onSample);
  objectFeed.on("reconnected", () => fillFrom(store.lastIso()));
  objectFeed.on("advanced", loadRange);
  document.addEventListener("vmemlab:reload", loadRange); // lab.js: a fast-forward ended
}

if (config.view === "esxtop") setupEsxtop(document.getElementById("esxtop"), objectFeed);
else startCharts();
