/* Monitor > Performance: the Overview and Advanced charts, their legend table and exports, and
 * the esxtop panel of a host.
 *
 * Data flow: the page renders the last hour from stored samples (embedded, or fetched from the
 * stats endpoint), then appends what the websocket pushes with Plotly.extendTraces inside a fixed
 * one-hour window. After a reconnect (or a hole in the pushed timestamps) it asks the stats
 * endpoint for everything after the last timestamp it holds, so no point goes missing.
 */
(function () {
  "use strict";

  const lab = window.vmemlab;
  const config = lab.config;
  const feed = lab.feed;

  // ------------------------------------------------------------------ esxtop

  function setupEsxtop() {
    const container = document.getElementById("esxtop");
    let busy = false;
    let pending = false;
    async function refresh() {
      if (busy) {
        pending = true;
        return;
      }
      busy = true;
      try {
        const response = await fetch(container.dataset.url, {
          credentials: "same-origin",
          headers: { Accept: "text/html" },
        });
        // A redirect means the session ended (login page): keep the last panel.
        if (response.ok && !response.redirected) container.innerHTML = await response.text();
      } catch (error) {
        /* the live status already says the connection is down */
      } finally {
        busy = false;
        if (pending) {
          pending = false;
          refresh();
        }
      }
    }
    feed.on("sample", function (message) {
      if (message.values && "mem.sharedcommon" in message.values) refresh(); // the host's own row
    });
    feed.on("advanced", refresh);
    feed.on("reconnected", refresh);
  }

  if (config.view === "esxtop") {
    setupEsxtop();
    return;
  }

  // ------------------------------------------------------------------ counters and options

  const REALTIME = config.realtimeInterval;
  const HOUR_MS = 3600 * 1000;
  const MAX_COUNTERS = 24;
  const TIMESPAN_LABELS = {
    realtime: "Real-time",
    day: "Last day",
    week: "Last week",
    month: "Last month",
    year: "Last year",
    custom: "Custom interval",
  };
  const catalogue = {};
  config.counters.forEach(function (counter) {
    catalogue[counter.name] = counter;
  });

  function keyParts(key) {
    const cut = key.lastIndexOf(".");
    return { name: key.slice(0, cut), rollup: key.slice(cut + 1) };
  }
  function counterOf(key) {
    return catalogue[keyParts(key).name];
  }
  function validKey(key) {
    const parts = keyParts(key);
    const counter = catalogue[parts.name];
    return Boolean(counter) && counter.rollups.indexOf(parts.rollup) !== -1;
  }

  const storageKey = "vmemlab.chartOptions." + config.kind;
  const defaults = { keys: config.overview.slice(), timespan: "realtime", chartType: "line", from: "", to: "" };

  /* Saved Chart Options, checked against the catalogue: anything off falls back to the defaults. */
  function loadOptions() {
    if (config.view !== "advanced") return Object.assign({}, defaults);
    let saved = null;
    try {
      saved = JSON.parse(window.localStorage.getItem(storageKey) || "null");
    } catch (error) {
      saved = null;
    }
    if (!saved || typeof saved !== "object") return Object.assign({}, defaults);
    const options = Object.assign({}, defaults);
    if (Array.isArray(saved.keys)) {
      const keys = saved.keys.filter(function (key) {
        return typeof key === "string" && validKey(key);
      });
      if (keys.length && keys.length <= MAX_COUNTERS) options.keys = keys;
    }
    if (Object.prototype.hasOwnProperty.call(TIMESPAN_LABELS, saved.timespan)) options.timespan = saved.timespan;
    if (saved.chartType === "line" || saved.chartType === "stacked") options.chartType = saved.chartType;
    if (options.timespan === "custom") {
      const from = Date.parse(saved.from);
      const to = Date.parse(saved.to);
      if (Number.isNaN(from) || Number.isNaN(to) || from >= to) options.timespan = "realtime";
      else {
        options.from = saved.from;
        options.to = saved.to;
      }
    }
    return options;
  }

  function saveOptions(options) {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify(options));
    } catch (error) {
      /* private mode: the choice lasts for this page only */
    }
  }

  let options = loadOptions();

  function intervalFor(opts) {
    if (opts.timespan !== "custom") return config.timespans[opts.timespan];
    // The finest interval whose retention still covers the start (vCenter keeps each level
    // for its own timespan), measured from the host's clock.
    const clock = config.clock ? Date.parse(config.clock) : Date.now();
    const age = (clock - Date.parse(opts.from)) / 1000;
    const intervals = Object.keys(config.retention).map(Number).sort(function (a, b) {
      return a - b;
    });
    for (let i = 0; i < intervals.length; i += 1) {
      if (config.retention[String(intervals[i])] >= age) return intervals[i];
    }
    return intervals[intervals.length - 1];
  }

  // ------------------------------------------------------------------ the data held

  const store = { times: [], points: new Map() }; // ms -> {iso, values: {key: number|null}}

  function resetStore() {
    store.times = [];
    store.points = new Map();
  }

  /* Adds a point; returns "append", "insert" or "duplicate". */
  function putPoint(ms, iso, values) {
    if (store.points.has(ms)) return "duplicate";
    store.points.set(ms, { iso: iso, values: values });
    const last = store.times.length ? store.times[store.times.length - 1] : -Infinity;
    store.times.push(ms);
    if (ms > last) return "append";
    store.times.sort(function (a, b) {
      return a - b;
    });
    return "insert";
  }

  function trimWindow() {
    if (!isLive() || !store.times.length) return;
    const from = store.times[store.times.length - 1] - HOUR_MS;
    while (store.times.length && store.times[0] <= from) {
      store.points.delete(store.times.shift());
    }
  }

  function lastIso() {
    return store.times.length ? store.points.get(store.times[store.times.length - 1]).iso : null;
  }

  function putStats(data) {
    data.timestamps.forEach(function (iso, index) {
      const values = {};
      options.keys.forEach(function (key) {
        const column = data.series[key];
        values[key] = column ? column[index] : null;
      });
      putPoint(Date.parse(iso), iso, values);
    });
  }

  // ------------------------------------------------------------------ units and the chart

  const overview = config.view === "overview";

  function unitOf(key) {
    const counter = counterOf(key);
    return overview && counter.unit === "KB" ? "MB" : counter.unit;
  }
  function scaled(key, value) {
    if (value === null || value === undefined) return null;
    return unitOf(key) === "MB" ? value / 1024 : value;
  }
  function digitsOf(key) {
    const unit = unitOf(key);
    return unit === "KB" ? 0 : 1;
  }

  function isLive() {
    return options.timespan === "realtime";
  }

  const chart = document.getElementById("chart");
  const legendBody = document.querySelector("#legend tbody");
  const messageElement = document.getElementById("chart-message");
  const titleElement = document.getElementById("chart-title");
  const rangeElement = document.getElementById("chart-range");

  function showMessage(text, isError) {
    if (!text) {
      messageElement.hidden = true;
      messageElement.textContent = "";
      return;
    }
    messageElement.hidden = false;
    messageElement.textContent = text;
    messageElement.classList.toggle("is-error", Boolean(isError));
  }

  function titleText() {
    return "Memory, " + TIMESPAN_LABELS[options.timespan];
  }

  function column(key) {
    return store.times.map(function (ms) {
      return scaled(key, store.points.get(ms).values[key]);
    });
  }

  function traces() {
    const x = store.times.map(function (ms) {
      return new Date(ms);
    });
    const units = options.keys.map(unitOf);
    const mixed = units.some(function (u) { return u === "%"; }) && units.some(function (u) { return u !== "%"; });
    return options.keys.map(function (key) {
      const counter = counterOf(key);
      const rollup = keyParts(key).rollup;
      const name = lab.plotlyText(counter.label + (rollup === "average" ? "" : " (" + rollup + ")"));
      const trace = {
        type: "scatter",
        mode: "lines",
        name: name,
        x: x,
        y: column(key),
        line: { color: counter.colour, width: 2 },
        connectgaps: false,
        hovertemplate: "%{y:,." + digitsOf(key) + "f} " + unitOf(key) + "<extra>" + name + "</extra>",
      };
      if (mixed && counter.unit === "%") trace.yaxis = "y2";
      if (options.chartType === "stacked" && !(mixed && counter.unit === "%")) trace.stackgroup = "memory";
      return trace;
    });
  }

  function windowRange() {
    if (!store.times.length) return null;
    const last = store.times[store.times.length - 1];
    return isLive() ? [new Date(last - HOUR_MS), new Date(last)] : null;
  }

  function layout() {
    const units = options.keys.map(unitOf);
    const left = units.find(function (u) { return u !== "%"; }) || "%";
    const mixed = left !== "%" && units.indexOf("%") !== -1;
    const range = windowRange();
    const result = {
      title: {
        text: lab.plotlyText(config.name) + " · " + titleText(),
        font: { size: 13, color: "#454545" },
        x: 0.01,
        xanchor: "left",
      },
      font: { family: "Segoe UI, Helvetica Neue, Arial, sans-serif", size: 12, color: "#313131" },
      margin: { l: 78, r: mixed ? 56 : 24, t: 36, b: 36 },
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      hovermode: "x unified",
      showlegend: true,
      legend: { orientation: "h", x: 0, y: -0.14 },
      xaxis: { type: "date", gridcolor: "#ececec", linecolor: "#b3b3b3" },
      yaxis: {
        title: { text: left },
        rangemode: "tozero",
        tickformat: left === "KB" ? ",.0f" : ",.4~g",
        gridcolor: "#ececec",
        zeroline: true,
        zerolinecolor: "#b3b3b3",
      },
      uirevision: options.keys.join(",") + options.timespan + options.chartType,
    };
    if (range) {
      result.xaxis.range = range;
      result.xaxis.autorange = false;
    } else {
      result.xaxis.autorange = true;
    }
    if (mixed) {
      result.yaxis2 = { title: { text: "%" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false };
    }
    return result;
  }

  const plotConfig = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"],
  };

  function draw() {
    window.Plotly.react(chart, traces(), layout(), plotConfig);
    updateLegend();
    updateRangeText();
  }

  function updateRangeText() {
    if (!store.times.length) {
      rangeElement.textContent = "";
      return;
    }
    const first = new Date(store.times[0]);
    const last = new Date(store.times[store.times.length - 1]);
    const interval = options.interval || REALTIME;
    rangeElement.textContent =
      first.toLocaleString() + " – " + last.toLocaleString() + " · " + interval + " s interval · simulated time";
  }

  function updateLegend() {
    while (legendBody.firstChild) legendBody.removeChild(legendBody.firstChild);
    options.keys.forEach(function (key) {
      const counter = counterOf(key);
      const values = column(key).filter(function (v) { return v !== null && v !== undefined; });
      let latest = null;
      for (let i = store.times.length - 1; i >= 0; i -= 1) {
        const value = scaled(key, store.points.get(store.times[i]).values[key]);
        if (value !== null && value !== undefined) {
          latest = value;
          break;
        }
      }
      const sum = values.reduce(function (a, b) { return a + b; }, 0);
      const row = document.createElement("tr");
      row.dataset.key = key;
      const swatchCell = document.createElement("td");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = counter.colour;
      swatchCell.appendChild(swatch);
      row.appendChild(swatchCell);
      const digits = digitsOf(key);
      [
        counter.label,
        keyParts(key).rollup.charAt(0).toUpperCase() + keyParts(key).rollup.slice(1),
        unitOf(key),
        lab.formatNumber(latest, digits),
        values.length ? lab.formatNumber(Math.max.apply(null, values), digits) : "—",
        values.length ? lab.formatNumber(Math.min.apply(null, values), digits) : "—",
        values.length ? lab.formatNumber(sum / values.length, digits) : "—",
      ].forEach(function (text) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      });
      legendBody.appendChild(row);
    });
  }

  function describeEmpty() {
    if (store.times.length) return "";
    if (config.kind === "vm" && !config.poweredOn) {
      return "No samples in this timespan: the VM is powered off (vSphere keeps no data for a powered-off VM).";
    }
    return isLive()
      ? "No samples yet: waiting for the host's next tick."
      : "No rolled-up samples in this timespan yet: rollups appear as simulated time passes (fast-forward the host to see them).";
  }

  // ------------------------------------------------------------------ loading

  let loadSerial = 0;

  function statsUrl(extra) {
    const params = new URLSearchParams({ counters: options.keys.join(","), interval: String(options.interval) });
    Object.keys(extra || {}).forEach(function (name) {
      params.set(name, extra[name]);
    });
    return config.statsUrl + "?" + params.toString();
  }

  function errorText(data) {
    const details = lab.describeFields(data.fields);
    return (data.error || "The stats could not be loaded.") + (details.length ? " " + details.join("; ") : "");
  }

  async function loadRange() {
    const serial = (loadSerial += 1);
    const extra = {};
    if (options.timespan === "custom") {
      extra.start = new Date(options.from).toISOString();
      extra.end = new Date(options.to).toISOString();
    }
    const result = await lab.api("GET", statsUrl(extra));
    if (serial !== loadSerial) return; // a newer load superseded this one
    if (!result.ok) {
      showMessage(errorText(result.data), true);
      return;
    }
    resetStore();
    putStats(result.data);
    draw();
    showMessage(describeEmpty());
  }

  let backfilling = false;
  let pendingStart = null;

  /* Everything after `startIso` (the stats start is exclusive): the newest point held before a
   * reconnect, or the point before a hole in the pushed timestamps. */
  async function backfill(startIso) {
    if (!isLive()) return;
    if (!store.times.length) {
      await loadRange();
      return;
    }
    const start = startIso || lastIso();
    if (backfilling) {
      if (pendingStart === null || Date.parse(start) < Date.parse(pendingStart)) pendingStart = start;
      return;
    }
    backfilling = true;
    const serial = loadSerial;
    try {
      const result = await lab.api("GET", statsUrl({ start: start }));
      if (serial !== loadSerial || !isLive()) return;
      if (!result.ok) {
        showMessage(errorText(result.data), true);
        return;
      }
      putStats(result.data);
      trimWindow();
      draw();
      showMessage(describeEmpty());
    } finally {
      backfilling = false;
      if (pendingStart !== null) {
        const next = pendingStart;
        pendingStart = null;
        backfill(next);
      }
    }
  }

  function onSample(message) {
    if (!isLive() || !chart.data) return;
    const ms = Date.parse(message.ts);
    const previous = store.times.length ? store.times[store.times.length - 1] : null;
    const previousIso = previous === null ? null : store.points.get(previous).iso;
    const values = {};
    options.keys.forEach(function (key) {
      const stored = message.values[keyParts(key).name];
      values[key] = stored === undefined ? null : stored;
    });
    const placed = putPoint(ms, message.ts, values);
    if (placed === "duplicate") return;
    trimWindow();
    if (placed === "insert" || previous === null) {
      draw();
    } else {
      const indices = options.keys.map(function (_, index) { return index; });
      window.Plotly.extendTraces(
        chart,
        {
          x: options.keys.map(function () { return [new Date(ms)]; }),
          y: options.keys.map(function (key) { return [scaled(key, values[key])]; }),
        },
        indices,
        Math.round(HOUR_MS / 1000 / REALTIME)
      );
      window.Plotly.relayout(chart, { "xaxis.range": windowRange() });
      updateLegend();
      updateRangeText();
    }
    showMessage("");
    // A hole in the pushed samples (missed before the socket opened, or lost): backfill it.
    if (previous !== null && ms - previous > 1.5 * REALTIME * 1000) {
      backfill(previousIso);
    }
  }

  // ------------------------------------------------------------------ exports

  function csvCell(text) {
    const value = String(text);
    return /[",\n\r]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }

  function download(filename, blob) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  function fileStem() {
    return lab.safeFilename(config.name) + "-memory-" + options.timespan;
  }

  function exportCsv() {
    const header = ["Time"].concat(options.keys.map(function (key) {
      return key + " (" + unitOf(key) + ")";
    }));
    const lines = [header.map(csvCell).join(",")];
    store.times.forEach(function (ms) {
      const point = store.points.get(ms);
      const cells = [point.iso].concat(options.keys.map(function (key) {
        const value = scaled(key, point.values[key]);
        return value === null || value === undefined ? "" : String(value);
      }));
      lines.push(cells.map(csvCell).join(","));
    });
    download(fileStem() + ".csv", new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
  }

  function exportPng() {
    window.Plotly.downloadImage(chart, { format: "png", width: 1200, height: 520, filename: fileStem() });
  }

  document.getElementById("export-csv").addEventListener("click", exportCsv);
  document.getElementById("export-png").addEventListener("click", exportPng);

  // ------------------------------------------------------------------ Chart Options (Advanced)

  function setupChartOptions() {
    const form = document.getElementById("chart-options");
    const toggle = document.getElementById("chart-options-toggle");
    const timespan = document.getElementById("timespan");
    const customRange = document.getElementById("custom-range");
    const fromInput = document.getElementById("custom-from");
    const toInput = document.getElementById("custom-to");
    const errorElement = document.getElementById("options-error");
    const description = document.getElementById("counter-description");

    function localInputValue(iso) {
      const moment = new Date(iso);
      if (Number.isNaN(moment.getTime())) return "";
      const shifted = new Date(moment.getTime() - moment.getTimezoneOffset() * 60000);
      return shifted.toISOString().slice(0, 19);
    }

    function fill(opts) {
      const chosen = {};
      opts.keys.forEach(function (key) {
        chosen[keyParts(key).name] = keyParts(key).rollup;
      });
      form.querySelectorAll("input[name=counter]").forEach(function (box) {
        box.checked = Object.prototype.hasOwnProperty.call(chosen, box.value);
        const select = form.querySelector('select[name="rollup-' + box.value + '"]');
        if (select) select.value = chosen[box.value] || "average";
      });
      timespan.value = opts.timespan;
      customRange.hidden = opts.timespan !== "custom";
      const clock = config.clock ? new Date(config.clock) : new Date();
      fromInput.value = opts.from ? localInputValue(opts.from) : localInputValue(new Date(clock.getTime() - 6 * HOUR_MS).toISOString());
      toInput.value = opts.to ? localInputValue(opts.to) : localInputValue(clock.toISOString());
      form.querySelectorAll("input[name=chartType]").forEach(function (radio) {
        radio.checked = radio.value === opts.chartType;
      });
      errorElement.hidden = true;
    }

    function open(show) {
      form.hidden = !show;
      toggle.setAttribute("aria-expanded", show ? "true" : "false");
      if (show) fill(options);
    }

    toggle.addEventListener("click", function () {
      open(form.hidden);
    });
    document.getElementById("chart-options-cancel").addEventListener("click", function () {
      open(false);
    });
    document.getElementById("chart-options-reset").addEventListener("click", function () {
      fill(Object.assign({}, options, { keys: config.overview.slice() }));
    });
    timespan.addEventListener("change", function () {
      customRange.hidden = timespan.value !== "custom";
    });
    form.querySelectorAll("tr[data-counter]").forEach(function (row) {
      function describe() {
        const counter = catalogue[row.dataset.counter];
        form.querySelectorAll("tr.is-focused").forEach(function (other) { other.classList.remove("is-focused"); });
        row.classList.add("is-focused");
        description.textContent = counter.label + " (" + counter.name + ", " + counter.unit + ", " + counter.statsType + "): " + counter.description;
      }
      row.addEventListener("click", describe);
      row.addEventListener("focusin", describe);
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const keys = [];
      form.querySelectorAll("input[name=counter]:checked").forEach(function (box) {
        const select = form.querySelector('select[name="rollup-' + box.value + '"]');
        keys.push(box.value + "." + (select ? select.value : "average"));
      });
      const chosen = {
        keys: keys,
        timespan: timespan.value,
        chartType: (form.querySelector("input[name=chartType]:checked") || { value: "line" }).value,
        from: "",
        to: "",
      };
      let problem = "";
      if (!keys.length) problem = "Choose at least one counter.";
      else if (keys.length > MAX_COUNTERS) problem = "Choose at most " + MAX_COUNTERS + " counters.";
      if (!problem && chosen.timespan === "custom") {
        const from = new Date(fromInput.value);
        const to = new Date(toInput.value);
        if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) problem = "Give both a start and an end.";
        else if (from >= to) problem = "The end must be after the start.";
        else {
          chosen.from = from.toISOString();
          chosen.to = to.toISOString();
        }
      }
      if (problem) {
        errorElement.textContent = problem;
        errorElement.hidden = false;
        return;
      }
      apply(chosen);
      saveOptions(chosen);
      open(false);
    });
  }

  function apply(chosen) {
    options = chosen;
    options.interval = intervalFor(options);
    titleElement.textContent = titleText();
    resetStore();
    loadRange();
  }

  // ------------------------------------------------------------------ start

  function start() {
    options.interval = intervalFor(options);
    titleElement.textContent = titleText();
    const embedded = document.getElementById("initial-stats");
    if (embedded && overview) {
      putStats(JSON.parse(embedded.textContent));
      draw();
      showMessage(describeEmpty());
    } else {
      window.Plotly.newPlot(chart, traces(), layout(), plotConfig);
      loadRange();
    }
    if (config.view === "advanced") setupChartOptions();
    feed.on("sample", onSample);
    feed.on("reconnected", function () {
      backfill(lastIso());
    });
    feed.on("advanced", loadRange);
    document.addEventListener("vmemlab:reload", loadRange);
  }

  start();
})();
