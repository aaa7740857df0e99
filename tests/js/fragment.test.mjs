// The fragment refresher: never two fetches at once, one more after a change, bursts coalesced.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { Refresher } from "../../static/js/fragment.js";

function slowRefresh() {
  const calls = { started: 0, running: 0, most: 0 };
  const refresh = async () => {
    calls.started += 1;
    calls.running += 1;
    calls.most = Math.max(calls.most, calls.running);
    await sleep(20);
    calls.running -= 1;
  };
  return { calls, refresh };
}

test("asked while fetching, it fetches once more when done, never twice at once", async () => {
  const { calls, refresh } = slowRefresh();
  const refresher = new Refresher(refresh);
  refresher.schedule();
  refresher.schedule();
  refresher.schedule();
  await sleep(80);
  assert.equal(calls.started, 2);
  assert.equal(calls.most, 1);
});

test("a burst within the window gives one fetch at its end", async () => {
  const { calls, refresh } = slowRefresh();
  const refresher = new Refresher(refresh, { windowMs: 30 });
  for (let i = 0; i < 5; i += 1) refresher.schedule();
  await sleep(10);
  assert.equal(calls.started, 0, "nothing before the window ends");
  await sleep(60);
  assert.equal(calls.started, 1);
});

test("a failing refresh is logged and the next one still runs", async () => {
  let runs = 0;
  const refresher = new Refresher(async () => {
    runs += 1;
    throw new Error("gone");
  });
  const originalError = console.error;
  console.error = () => {};
  try {
    await refresher.run();
    await refresher.run();
  } finally {
    console.error = originalError;
  }
  assert.equal(runs, 2);
  assert.equal(refresher.busy, false);
});
