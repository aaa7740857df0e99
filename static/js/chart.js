/* The Memory chart of Performance > Overview and Advanced: Plotly traces and layout from the
 * samples held, and the legend table under it (Latest, Maximum, Minimum, Average per counter).
 *
 * Counter values arrive as stored: KB, or a percentage. A catalogue entry with `"scale": N`
 * stores N units per displayed one (vSphere's QueryPerf gives `mem.usage` in hundredths of a
 * percent, `"unit": "percent", "scale": 100`): the chart, the legend and the CSV divide by it.
 * The Overview shows memory in MB, as the vSphere Client does; Advanced shows the stored KB.
 */

import { formatNumber, plotlyText } from "./format.js";

export function keyParts(key) {
  const cut = key.lastIndexOf(".");
  return { name: key.slice(0, cut), rollup: key.slice(cut + 1) };
}

export function isPercent(counter) {
  return counter.unit === "%" || counter.unit === "percent";
}

/* The unit a counter is shown in: "%", "MB" (memory on the Overview) or the stored unit. */
export function displayUnit(counter, { memoryInMB = false } = {}) {
  if (isPercent(counter)) return "%";
  return memoryInMB && counter.unit === "KB" ? "MB" : counter.unit;
}

/* A stored value in its display unit; null stays null. */
export function displayValue(counter, value, { memoryInMB = false } = {}) {
  if (value === null || value === undefined) return null;
  let shown = counter.scale ? value / counter.scale : value;
  if (displayUnit(counter, { memoryInMB }) === "MB") shown /= 1024;
  return shown;
}

export function displayDigits(unit) {
  return unit === "KB" ? 0 : 1;
}

export function traceName(counter, rollup) {
  return counter.label + (rollup === "average" ? "" : ` (${rollup})`);
}

/* Latest (the newest value held), Maximum, Minimum and Average of one column; nulls skipped. */
export function legendStats(column) {
  const values = column.filter((value) => value !== null && value !== undefined);
  if (!values.length) return { latest: null, maximum: null, minimum: null, average: null };
  return {
    latest: values[values.length - 1],
    maximum: Math.max(...values),
    minimum: Math.min(...values),
    average: values.reduce((sum, value) => sum + value, 0) / values.length,
  };
}

/* One chart: its counters (stat keys), chart type, the catalogue by counter name, and how memory
 * is shown. Pure: it reads the store and returns what Plotly and the legend need. */
export class ChartModel {
  constructor({ keys, chartType = "line", catalogue, memoryInMB = false }) {
    this.keys = keys;
    this.chartType = chartType;
    this.catalogue = catalogue;
    this.display = { memoryInMB };
  }

  counterOf(key) {
    return this.catalogue[keyParts(key).name];
  }

  unitOf(key) {
    return displayUnit(this.counterOf(key), this.display);
  }

  valueOf(key, stored) {
    return displayValue(this.counterOf(key), stored, this.display);
  }

  column(store, key) {
    return store.column(key, (value) => this.valueOf(key, value));
  }

  /* Percentages beside memory get an axis of their own, on the right. */
  mixedAxes() {
    const units = this.keys.map((key) => this.unitOf(key));
    return units.includes("%") && units.some((unit) => unit !== "%");
  }

  traces(store) {
    const x = store.times.map((ms) => new Date(ms));
    const mixed = this.mixedAxes();
    return this.keys.map((key) => {
      const counter = this.counterOf(key);
      const unit = this.unitOf(key);
      const name = plotlyText(traceName(counter, keyParts(key).rollup));
      const trace = {
        type: "scatter",
        mode: "lines",
        name,
        x,
        y: this.column(store, key),
        line: { color: counter.colour, width: 2 },
        connectgaps: false,
        hovertemplate: `%{y:,.${displayDigits(unit)}f} ${unit}<extra>${name}</extra>`,
      };
      const ownAxis = mixed && unit === "%";
      if (ownAxis) trace.yaxis = "y2";
      if (this.chartType === "stacked" && !ownAxis) trace.stackgroup = "memory";
      return trace;
    });
  }

  /* `title` is text (escaped here); `range` the x range to show, or null to fit the data. */
  layout({ title, range = null, revision = "" }) {
    const units = this.keys.map((key) => this.unitOf(key));
    const left = units.find((unit) => unit !== "%") || "%";
    const mixed = this.mixedAxes();
    const result = {
      title: { text: plotlyText(title), font: { size: 13, color: "#454545" }, x: 0.01, xanchor: "left" },
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
      uirevision: this.keys.join(",") + this.chartType + revision,
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

  /* The legend table's rows: {key, colour, cells: [counter, rollup, unit, latest, max, min, avg]}. */
  legendRows(store) {
    return this.keys.map((key) => {
      const counter = this.counterOf(key);
      const unit = this.unitOf(key);
      const digits = displayDigits(unit);
      const stats = legendStats(this.column(store, key));
      const rollup = keyParts(key).rollup;
      return {
        key,
        colour: counter.colour,
        cells: [
          counter.label,
          rollup.charAt(0).toUpperCase() + rollup.slice(1),
          unit,
          ...[stats.latest, stats.maximum, stats.minimum, stats.average].map((v) => formatNumber(v, digits)),
        ],
      };
    });
  }
}

const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"] };

/* The chart on the page: Plotly in `element`, the legend in `legendBody`. */
export class PerfChart {
  constructor({ element, legendBody }) {
    this.element = element;
    this.legendBody = legendBody;
  }

  get drawn() {
    return Boolean(this.element.data);
  }

  draw(model, store, layoutOptions) {
    window.Plotly.react(this.element, model.traces(store), model.layout(layoutOptions), PLOT_CONFIG);
    this.fillLegend(model, store);
  }

  /* One new newest point, without redrawing: extend every trace, keep at most `maxPoints`. */
  extend(model, store, range, maxPoints) {
    const last = store.lastMs();
    const values = store.points.get(last).values;
    window.Plotly.extendTraces(
      this.element,
      {
        x: model.keys.map(() => [new Date(last)]),
        y: model.keys.map((key) => [model.valueOf(key, values[key])]),
      },
      model.keys.map((_, index) => index),
      maxPoints
    );
    if (range) window.Plotly.relayout(this.element, { "xaxis.range": range });
    this.fillLegend(model, store);
  }

  fillLegend(model, store) {
    const rows = model.legendRows(store).map((legend) => {
      const row = document.createElement("tr");
      row.dataset.key = legend.key;
      const swatchCell = document.createElement("td");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = legend.colour;
      swatchCell.append(swatch);
      row.append(swatchCell);
      for (const text of legend.cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    });
    this.legendBody.replaceChildren(...rows);
  }

  downloadPng(filename) {
    window.Plotly.downloadImage(this.element, { format: "png", width: 1200, height: 520, filename });
  }
}
