/* Performance > Advanced > Chart Options: which counters (with their rollup), the timespan and
 * the chart type, kept per entity kind in localStorage and checked against the catalogue when
 * read back.
 *
 * The timespans come from the server's table of statistics intervals (the page config's
 * `intervals`: seconds, retention, timespan name and label; vSphere "Data Collection
 * Intervals"), plus Custom, which reads the finest interval whose retention covers its start.
 */

import { keyParts } from "./chart.js";

export const CUSTOM = "custom";
const CUSTOM_LABEL = "Custom interval";
const HOUR_MS = 3600 * 1000;

export function timespanLabel(intervals, timespan) {
  if (timespan === CUSTOM) return CUSTOM_LABEL;
  const found = intervals.find((interval) => interval.timespan === timespan);
  return found ? found.label : timespan;
}

export function validKey(key, catalogue) {
  if (typeof key !== "string") return false;
  const { name, rollup } = keyParts(key);
  const counter = catalogue[name];
  return Boolean(counter) && counter.rollups.includes(rollup);
}

export function defaultOptions(overview) {
  return { keys: overview.slice(), timespan: "realtime", chartType: "line", from: "", to: "" };
}

/* Saved options as read back (anything): what is valid of them, the defaults for the rest. */
export function checkedOptions(saved, { catalogue, overview, intervals, maxCounters }) {
  const options = defaultOptions(overview);
  if (!saved || typeof saved !== "object") return options;
  if (Array.isArray(saved.keys)) {
    const keys = saved.keys.filter((key) => validKey(key, catalogue));
    if (keys.length && keys.length <= maxCounters) options.keys = keys;
  }
  if (intervals.some((interval) => interval.timespan === saved.timespan)) options.timespan = saved.timespan;
  if (saved.chartType === "line" || saved.chartType === "stacked") options.chartType = saved.chartType;
  if (saved.timespan === CUSTOM) {
    const from = Date.parse(saved.from);
    const to = Date.parse(saved.to);
    if (!Number.isNaN(from) && !Number.isNaN(to) && from < to) {
      Object.assign(options, { timespan: CUSTOM, from: saved.from, to: saved.to });
    }
  }
  return options;
}

/* The sample interval (seconds) a timespan reads. Custom: the finest interval whose retention
 * still covers the start (vCenter keeps each level for its own timespan), measured from the
 * host's clock (`clockMs`). */
export function intervalFor(options, { intervals, clockMs }) {
  if (options.timespan !== CUSTOM) {
    return intervals.find((interval) => interval.timespan === options.timespan).seconds;
  }
  const age = (clockMs - Date.parse(options.from)) / 1000;
  const finest = [...intervals].sort((a, b) => a.seconds - b.seconds);
  const covering = finest.find((interval) => interval.retention >= age);
  return (covering || finest[finest.length - 1]).seconds;
}

/* What is wrong with a choice from the form ("" when nothing); `from`/`to` as typed. */
export function choiceProblem({ keys, timespan, from, to }, { maxCounters }) {
  if (!keys.length) return "Choose at least one counter.";
  if (keys.length > maxCounters) return `Choose at most ${maxCounters} counters.`;
  if (timespan === CUSTOM) {
    const start = new Date(from);
    const end = new Date(to);
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) return "Give both a start and an end.";
    if (start >= end) return "The end must be after the start.";
  }
  return "";
}

export function loadSaved(storageKey) {
  try {
    return JSON.parse(window.localStorage.getItem(storageKey) || "null");
  } catch (error) {
    return null;
  }
}

export function save(storageKey, options) {
  try {
    window.localStorage.setItem(storageKey, JSON.stringify(options));
  } catch (error) {
    /* private mode: the choice lasts for this page only */
  }
}

function localInputValue(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  const shifted = new Date(moment.getTime() - moment.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 19);
}

/* The Chart Options form: `current()` gives the options shown, `apply(chosen)` takes a valid
 * choice from OK. */
export function setupChartOptionsForm({ catalogue, overview, maxCounters, clockMs, current, apply }) {
  const form = document.getElementById("chart-options");
  const toggle = document.getElementById("chart-options-toggle");
  const timespan = document.getElementById("timespan");
  const customRange = document.getElementById("custom-range");
  const fromInput = document.getElementById("custom-from");
  const toInput = document.getElementById("custom-to");
  const errorElement = document.getElementById("options-error");
  const description = document.getElementById("counter-description");

  function rollupSelect(name) {
    return form.querySelector(`select[name="rollup-${name}"]`);
  }

  function fill(options) {
    const chosen = new Map(options.keys.map((key) => [keyParts(key).name, keyParts(key).rollup]));
    form.querySelectorAll("input[name=counter]").forEach((box) => {
      box.checked = chosen.has(box.value);
      const select = rollupSelect(box.value);
      if (select) select.value = chosen.get(box.value) || "average";
    });
    timespan.value = options.timespan;
    customRange.hidden = options.timespan !== CUSTOM;
    fromInput.value = localInputValue(options.from || new Date(clockMs - 6 * HOUR_MS).toISOString());
    toInput.value = localInputValue(options.to || new Date(clockMs).toISOString());
    form.querySelectorAll("input[name=chartType]").forEach((radio) => {
      radio.checked = radio.value === options.chartType;
    });
    errorElement.hidden = true;
  }

  function open(show) {
    form.hidden = !show;
    toggle.setAttribute("aria-expanded", show ? "true" : "false");
    if (show) fill(current());
  }

  toggle.addEventListener("click", () => open(form.hidden));
  document.getElementById("chart-options-cancel").addEventListener("click", () => open(false));
  document.getElementById("chart-options-reset").addEventListener("click", () => {
    fill({ ...current(), keys: overview.slice() });
  });
  timespan.addEventListener("change", () => {
    customRange.hidden = timespan.value !== CUSTOM;
  });
  form.querySelectorAll("tr[data-counter]").forEach((row) => {
    function describe() {
      const counter = catalogue[row.dataset.counter];
      form.querySelectorAll("tr.is-focused").forEach((other) => other.classList.remove("is-focused"));
      row.classList.add("is-focused");
      description.textContent = `${counter.label} (${counter.name}, ${counter.unit}, ${counter.statsType}): ${counter.description}`;
    }
    row.addEventListener("click", describe);
    row.addEventListener("focusin", describe);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const keys = [...form.querySelectorAll("input[name=counter]:checked")].map((box) => {
      const select = rollupSelect(box.value);
      return `${box.value}.${select ? select.value : "average"}`;
    });
    const typed = { keys, timespan: timespan.value, from: fromInput.value, to: toInput.value };
    const problem = choiceProblem(typed, { maxCounters });
    if (problem) {
      errorElement.textContent = problem;
      errorElement.hidden = false;
      return;
    }
    const custom = typed.timespan === CUSTOM;
    apply({
      keys,
      timespan: typed.timespan,
      chartType: (form.querySelector("input[name=chartType]:checked") || { value: "line" }).value,
      from: custom ? new Date(typed.from).toISOString() : "",
      to: custom ? new Date(typed.to).toISOString() : "",
    });
    open(false);
  });
}
