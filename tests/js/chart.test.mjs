// The chart model: units, the percent scale, axes, traces and the legend numbers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChartModel, displayUnit, displayValue, legendStats } from "../../static/js/chart.js";
import { SampleStore } from "../../static/js/sample-store.js";

const GRANTED = { name: "mem.granted", label: "Granted", unit: "KB", rollups: ["average", "maximum"], colour: "#0072a3" };
// As the catalogue gives it once usage is stored in hundredths of a percent (vSphere QueryPerf).
const USAGE = { name: "mem.usage", label: "Usage", unit: "percent", scale: 100, rollups: ["average"], colour: "#d6336c" };
const MMU = { name: "lab.mmu.overhead", label: "MMU overhead (lab)", unit: "%", rollups: ["average"], colour: "#8a8a00" };
const CATALOGUE = { [GRANTED.name]: GRANTED, [USAGE.name]: USAGE, [MMU.name]: MMU };
const T0 = Date.parse("2026-01-01T00:00:00Z");

function storeOf(rows) {
  const store = new SampleStore();
  rows.forEach((values, index) => {
    store.put(T0 + index * 20000, new Date(T0 + index * 20000).toISOString(), values);
  });
  return store;
}

test("a scaled percent counter is shown divided by its scale, in %", () => {
  assert.equal(displayUnit(USAGE), "%");
  assert.equal(displayValue(USAGE, 4250), 42.5);
  assert.equal(displayValue(USAGE, 4250, { memoryInMB: true }), 42.5, "MB applies to memory only");
  assert.equal(displayValue(USAGE, null), null);
});

test("a percent counter without a scale is shown as stored", () => {
  assert.equal(displayUnit(MMU), "%");
  assert.equal(displayValue(MMU, 12.5), 12.5);
});

test("memory is KB on Advanced and MB on the Overview", () => {
  assert.equal(displayUnit(GRANTED), "KB");
  assert.equal(displayValue(GRANTED, 2048), 2048);
  assert.equal(displayUnit(GRANTED, { memoryInMB: true }), "MB");
  assert.equal(displayValue(GRANTED, 2048, { memoryInMB: true }), 2);
});

test("the traces carry the scaled values, and a percentage beside memory goes on the right axis", () => {
  const model = new ChartModel({ keys: ["mem.granted.maximum", "mem.usage.average"], chartType: "stacked", catalogue: CATALOGUE });
  const store = storeOf([
    { "mem.granted.maximum": 1024, "mem.usage.average": 2500 },
    { "mem.granted.maximum": 2048, "mem.usage.average": null },
  ]);
  const [granted, usage] = model.traces(store);
  assert.equal(granted.name, "Granted (maximum)");
  assert.deepEqual(granted.y, [1024, 2048]);
  assert.equal(granted.stackgroup, "memory");
  assert.equal(granted.yaxis, undefined);
  assert.equal(usage.name, "Usage");
  assert.deepEqual(usage.y, [25, null]);
  assert.equal(usage.yaxis, "y2");
  assert.equal(usage.stackgroup, undefined, "a percentage is never stacked on memory");
  assert.match(usage.hovertemplate, / %<extra>/);
  assert.deepEqual(granted.x, [new Date(T0), new Date(T0 + 20000)]);
  const layout = model.layout({ title: "vm · Memory" });
  assert.equal(layout.yaxis.title.text, "KB");
  assert.equal(layout.yaxis2.title.text, "%");
});

test("percentages alone share the left axis", () => {
  const model = new ChartModel({ keys: ["mem.usage.average", "lab.mmu.overhead.average"], catalogue: CATALOGUE });
  const traces = model.traces(storeOf([{ "mem.usage.average": 100, "lab.mmu.overhead.average": 3 }]));
  assert.deepEqual(traces.map((trace) => trace.yaxis), [undefined, undefined]);
  const layout = model.layout({ title: "x" });
  assert.equal(layout.yaxis.title.text, "%");
  assert.equal(layout.yaxis2, undefined);
});

test("names and the title are escaped for Plotly, which renders a subset of HTML", () => {
  const evil = { ...GRANTED, label: "<img src=x onerror=alert(1)>" };
  const model = new ChartModel({ keys: ["mem.granted.average"], catalogue: { "mem.granted": evil } });
  const [trace] = model.traces(storeOf([{ "mem.granted.average": 1 }]));
  assert.equal(trace.name, "&lt;img src=x onerror=alert(1)&gt;");
  assert.equal(model.layout({ title: "<b>vm</b>" }).title.text, "&lt;b&gt;vm&lt;/b&gt;");
});

test("a real-time range fixes the x axis; without one it fits the data", () => {
  const model = new ChartModel({ keys: ["mem.granted.average"], catalogue: CATALOGUE });
  const range = [new Date(T0), new Date(T0 + 3600000)];
  assert.deepEqual(model.layout({ title: "", range }).xaxis.range, range);
  assert.equal(model.layout({ title: "", range }).xaxis.autorange, false);
  assert.equal(model.layout({ title: "" }).xaxis.autorange, true);
});

test("the legend shows latest, maximum, minimum and average in the shown unit, nulls skipped", () => {
  const model = new ChartModel({ keys: ["mem.usage.average", "mem.granted.average"], catalogue: CATALOGUE, memoryInMB: true });
  const store = storeOf([
    { "mem.usage.average": 1000, "mem.granted.average": 1024 },
    { "mem.usage.average": 3000, "mem.granted.average": 3072 },
    { "mem.usage.average": null, "mem.granted.average": null },
  ]);
  const [usage, granted] = model.legendRows(store);
  assert.deepEqual(usage.cells, ["Usage", "Average", "%", "30.0", "30.0", "10.0", "20.0"]);
  assert.deepEqual(granted.cells, ["Granted", "Average", "MB", "3.0", "3.0", "1.0", "2.0"]);
  assert.equal(granted.colour, "#0072a3");
});

test("the legend of an empty column is all dashes", () => {
  assert.deepEqual(legendStats([null, undefined]), { latest: null, maximum: null, minimum: null, average: null });
  const model = new ChartModel({ keys: ["mem.granted.average"], catalogue: CATALOGUE });
  assert.deepEqual(model.legendRows(new SampleStore())[0].cells.slice(3), ["—", "—", "—", "—"]);
});
