// The chart's sample store: the real-time window, ordering, and the backfill merge.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SampleStore } from "../../static/js/sample-store.js";

const KEYS = ["mem.granted.average", "mem.consumed.maximum"];
const T0 = Date.parse("2026-01-01T00:00:00Z");
const iso = (seconds) => new Date(T0 + seconds * 1000).toISOString();
const sample = (seconds, granted, consumed) => ({
  ts: iso(seconds),
  values: { "mem.granted": granted, "mem.consumed": consumed },
});
const stats = (seconds, granted) => ({
  timestamps: seconds.map(iso),
  series: { "mem.granted.average": granted, "mem.consumed.maximum": granted.map((g) => g / 2) },
});

test("a pushed sample gives every rollup of its counter, and a missing counter null", () => {
  const store = new SampleStore();
  assert.equal(store.putSample({ ts: iso(0), values: { "mem.granted": 7 } }, KEYS), "append");
  assert.deepEqual(store.column("mem.granted.average"), [7]);
  assert.deepEqual(store.column("mem.consumed.maximum"), [null]);
});

test("points are kept in time order and a second point at the same time is ignored", () => {
  const store = new SampleStore();
  assert.equal(store.putSample(sample(40, 3, 1), KEYS), "append");
  assert.equal(store.putSample(sample(0, 1, 1), KEYS), "insert");
  assert.equal(store.putSample(sample(20, 2, 1), KEYS), "insert");
  assert.equal(store.putSample(sample(20, 99, 99), KEYS), "duplicate");
  assert.deepEqual(store.column("mem.granted.average"), [1, 2, 3]);
  assert.equal(store.lastIso(), iso(40));
});

test("the real-time window keeps the newest point and less than a window before it", () => {
  const store = new SampleStore({ windowMs: 3600 * 1000 });
  for (let s = 0; s <= 2 * 3600; s += 20) store.putSample(sample(s, s, s), KEYS);
  const dropped = store.trim();
  assert.equal(store.size, 180, "an hour of 20 s samples");
  assert.equal(dropped, 361 - 180);
  assert.equal(store.times[0], T0 + (3600 + 20) * 1000);
  assert.equal(store.lastIso(), iso(7200));
  assert.equal(store.points.size, store.size, "no point is held outside the window");
});

test("a store without a window keeps everything", () => {
  const store = new SampleStore();
  for (let s = 0; s <= 7200; s += 20) store.putSample(sample(s, s, s), KEYS);
  assert.equal(store.trim(), 0);
  assert.equal(store.size, 361);
});

test("a backfill adds only what the socket missed, in order, and counts it", () => {
  const store = new SampleStore();
  store.putSample(sample(0, 1, 0), KEYS);
  store.putSample(sample(100, 6, 0), KEYS); // pushed after the reconnect
  const added = store.putStats(stats([20, 40, 60, 80, 100], [2, 3, 4, 5, 600]), KEYS);
  assert.equal(added, 4);
  assert.deepEqual(store.column("mem.granted.average"), [1, 2, 3, 4, 5, 6], "the pushed point stays");
  assert.deepEqual(store.column("mem.consumed.maximum"), [0, 1, 1.5, 2, 2.5, 0]);
});

test("a stats answer without a series gives nulls, not a shifted column", () => {
  const store = new SampleStore();
  store.putStats({ timestamps: [iso(0), iso(20)], series: { "mem.granted.average": [1, 2] } }, KEYS);
  assert.deepEqual(store.column("mem.consumed.maximum"), [null, null]);
});

test("a hole opens when a point comes more than one and a half periods after the newest", () => {
  const store = new SampleStore();
  assert.equal(store.holeBefore(T0, 20000), null, "nothing held: nothing missed");
  store.putSample(sample(0, 1, 1), KEYS);
  assert.equal(store.holeBefore(T0 + 20000, 20000), null);
  assert.equal(store.holeBefore(T0 + 30000, 20000), null);
  assert.equal(store.holeBefore(T0 + 30001, 20000), iso(0));
});

test("column() transforms values and leaves null as null", () => {
  const store = new SampleStore();
  store.putStats(stats([0, 20], [2048, null]), KEYS);
  assert.deepEqual(store.column("mem.granted.average", (v) => v / 1024), [2, null]);
});
