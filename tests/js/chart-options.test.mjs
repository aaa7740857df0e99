// Chart Options: saved choices checked against the catalogue, and the interval a timespan reads.
import assert from "node:assert/strict";
import { test } from "node:test";

import { checkedOptions, choiceProblem, intervalFor, timespanLabel } from "../../static/js/chart-options.js";

// The page config's `intervals`, as dashboard/views/pages.py sends hostsim.models.STATS_INTERVALS.
const INTERVALS = [
  { seconds: 20, retention: 3600, timespan: "realtime", label: "Real-time" },
  { seconds: 300, retention: 86400, timespan: "day", label: "Last day" },
  { seconds: 1800, retention: 604800, timespan: "week", label: "Last week" },
  { seconds: 7200, retention: 2592000, timespan: "month", label: "Last month" },
  { seconds: 86400, retention: 31536000, timespan: "year", label: "Last year" },
];
const CATALOGUE = {
  "mem.granted": { rollups: ["average", "minimum", "maximum"] },
  "mem.usage": { rollups: ["average"] },
};
const LIMITS = { catalogue: CATALOGUE, overview: ["mem.granted.average"], intervals: INTERVALS, maxCounters: 2 };
const CLOCK = Date.parse("2026-06-01T12:00:00Z");

test("valid saved options are taken as they are", () => {
  const saved = { keys: ["mem.usage.average", "mem.granted.maximum"], timespan: "week", chartType: "stacked" };
  assert.deepEqual(checkedOptions(saved, LIMITS), { ...saved, from: "", to: "" });
});

test("anything off in saved options falls back to the defaults, part by part", () => {
  const defaults = { keys: ["mem.granted.average"], timespan: "realtime", chartType: "line", from: "", to: "" };
  for (const saved of [null, "text", 42, [], {}]) assert.deepEqual(checkedOptions(saved, LIMITS), defaults);
  assert.deepEqual(
    checkedOptions({ keys: ["mem.gone.average", "mem.usage.maximum", 7], timespan: "decade", chartType: "pie" }, LIMITS),
    defaults
  );
  const tooMany = { keys: ["mem.granted.average", "mem.granted.minimum", "mem.granted.maximum"] };
  assert.deepEqual(checkedOptions(tooMany, LIMITS).keys, ["mem.granted.average"]);
  assert.deepEqual(checkedOptions({ keys: ["mem.gone.average", "mem.usage.average"] }, LIMITS).keys, ["mem.usage.average"]);
});

test("a saved custom range is kept only when it is a real, ordered range", () => {
  const good = { timespan: "custom", from: "2026-06-01T00:00:00Z", to: "2026-06-01T06:00:00Z" };
  assert.equal(checkedOptions(good, LIMITS).timespan, "custom");
  assert.equal(checkedOptions(good, LIMITS).from, good.from);
  for (const bad of [{ ...good, to: good.from }, { ...good, from: "soon" }, { timespan: "custom" }]) {
    assert.equal(checkedOptions(bad, LIMITS).timespan, "realtime");
  }
});

test("each named timespan reads its own interval", () => {
  for (const interval of INTERVALS) {
    assert.equal(intervalFor({ timespan: interval.timespan }, { intervals: INTERVALS, clockMs: CLOCK }), interval.seconds);
    assert.equal(timespanLabel(INTERVALS, interval.timespan), interval.label);
  }
  assert.equal(timespanLabel(INTERVALS, "custom"), "Custom interval");
});

test("a custom range reads the finest interval whose retention still covers its start", () => {
  const from = (hoursAgo) => ({ timespan: "custom", from: new Date(CLOCK - hoursAgo * 3600000).toISOString() });
  const read = (hoursAgo) => intervalFor(from(hoursAgo), { intervals: INTERVALS, clockMs: CLOCK });
  assert.equal(read(0.5), 20);
  assert.equal(read(1), 20, "an hour is still real-time");
  assert.equal(read(1.01), 300);
  assert.equal(read(24 * 6), 1800);
  assert.equal(read(24 * 20), 7200);
  assert.equal(read(24 * 300), 86400);
  assert.equal(read(24 * 3650), 86400, "older than every retention: the coarsest");
});

test("a choice from the form is refused with a sentence saying why", () => {
  const limits = { maxCounters: 2 };
  assert.equal(choiceProblem({ keys: [], timespan: "day" }, limits), "Choose at least one counter.");
  assert.equal(choiceProblem({ keys: ["a", "b", "c"], timespan: "day" }, limits), "Choose at most 2 counters.");
  const custom = { keys: ["a"], timespan: "custom" };
  assert.equal(choiceProblem({ ...custom, from: "", to: "2026-01-01T00:00" }, limits), "Give both a start and an end.");
  assert.equal(choiceProblem({ ...custom, from: "2026-01-02T00:00", to: "2026-01-01T00:00" }, limits), "The end must be after the start.");
  assert.equal(choiceProblem({ ...custom, from: "2026-01-01T00:00", to: "2026-01-02T00:00" }, limits), "");
});
