// The live socket's reconnect backoff, and the backfill of what a dropped socket missed.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, Backfill, backoffDelay } from "../../static/js/live-socket.js";

test("the reconnect wait doubles from the first delay up to the cap, jittered in its upper half", () => {
  assert.equal(backoffDelay(0, () => 0), BACKOFF_FIRST_MS / 2);
  assert.equal(backoffDelay(0, () => 1), BACKOFF_FIRST_MS);
  assert.equal(backoffDelay(3, () => 1), 8 * BACKOFF_FIRST_MS);
  assert.equal(backoffDelay(50, () => 1), BACKOFF_MAX_MS);
  assert.equal(backoffDelay(50, () => 0), BACKOFF_MAX_MS / 2);
});

/* A stats endpoint over a fixed series of 20 s points: load(since) merges what is after since. */
function endpoint() {
  const T0 = Date.parse("2026-01-01T00:00:00Z");
  const all = Array.from({ length: 10 }, (_, i) => new Date(T0 + i * 20000).toISOString());
  // Held: the point before each hole that the page will ask about (the stats start is exclusive).
  const held = new Set([all[0], all[1], all[3], all[5], all[7]]);
  const asked = [];
  let release = null;
  const load = async (since) => {
    asked.push(since);
    if (release === null) await new Promise((resolve) => { release = resolve; });
    for (const ts of all) if (Date.parse(ts) > Date.parse(since)) held.add(ts);
  };
  return { all, held, asked, load, open: () => release && release() };
}

test("holes found while a backfill runs cost one more request, from the earliest of them", async () => {
  const server = endpoint();
  const backfill = new Backfill(server.load);
  const first = backfill.request(server.all[5]);
  backfill.request(server.all[3]);
  backfill.request(server.all[7]);
  backfill.request(server.all[1]);
  server.open();
  await first;
  assert.deepEqual(server.asked, [server.all[5], server.all[1]]);
  assert.equal(server.held.size, server.all.length, "no point is missing");
  assert.equal(backfill.running, null);
});

test("a failed backfill does not stop the next one", async () => {
  const asked = [];
  const backfill = new Backfill(async (since) => {
    asked.push(since);
    if (asked.length === 1) throw new Error("network down");
  });
  const originalError = console.error;
  console.error = () => {};
  try {
    const run = backfill.request("2026-01-01T00:01:00Z");
    backfill.request("2026-01-01T00:00:00Z");
    await run;
  } finally {
    console.error = originalError;
  }
  assert.deepEqual(asked, ["2026-01-01T00:01:00Z", "2026-01-01T00:00:00Z"]);
  await backfill.request("2026-01-01T00:02:00Z");
  assert.equal(asked.length, 3);
});
