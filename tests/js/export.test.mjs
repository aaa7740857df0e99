// The CSV export: header with units, values as the chart shows them, quoting, line ends.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChartModel } from "../../static/js/chart.js";
import { csvCell, csvText, fileStem } from "../../static/js/export.js";
import { SampleStore } from "../../static/js/sample-store.js";

const CATALOGUE = {
  "mem.granted": { name: "mem.granted", label: "Granted", unit: "KB", rollups: ["average"] },
  "mem.usage": { name: "mem.usage", label: "Usage", unit: "percent", scale: 100, rollups: ["average"] },
};

function store() {
  const held = new SampleStore();
  held.putStats(
    {
      timestamps: ["2026-01-01T00:00:20+00:00", "2026-01-01T00:00:00+00:00"],
      series: { "mem.granted.average": [2048, 1024], "mem.usage.average": [null, 1234] },
    },
    ["mem.granted.average", "mem.usage.average"]
  );
  return held;
}

test("the CSV has one row per point, oldest first, the server's stamps, units in the header", () => {
  const model = new ChartModel({ keys: ["mem.granted.average", "mem.usage.average"], catalogue: CATALOGUE });
  assert.equal(
    csvText(model, store()),
    "Time,mem.granted.average (KB),mem.usage.average (%)\r\n" +
      "2026-01-01T00:00:00+00:00,1024,12.34\r\n" +
      "2026-01-01T00:00:20+00:00,2048,\r\n"
  );
});

test("the Overview's CSV is in MB like its chart", () => {
  const model = new ChartModel({ keys: ["mem.granted.average"], catalogue: CATALOGUE, memoryInMB: true });
  assert.equal(csvText(model, store()).split("\r\n")[1], "2026-01-01T00:00:00+00:00,1");
});

test("cells with a comma, a quote or a line break are quoted", () => {
  assert.equal(csvCell("plain"), "plain");
  assert.equal(csvCell("a,b"), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell("two\nlines"), '"two\nlines"');
  assert.equal(csvCell(12.5), "12.5");
});

test("the file name keeps only safe characters of the object's name", () => {
  assert.equal(fileStem("<img src=x> vm/01", "day"), "img_src_x_vm_01-memory-day");
  assert.equal(fileStem("***", "realtime"), "chart-memory-realtime");
});
