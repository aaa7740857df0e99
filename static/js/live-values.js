/* Live numbers and bars on the Summary tabs: elements marked data-live="mem.granted" (with
 * data-unit "mb", "pct", "hundredths" or "state"), data-live-free, data-live-bar, data-live-saving and data-live-ts take
 * the values of each pushed sample. */

import { formatNumber } from "./format.js";

const MEMORY_STATES = ["high", "clear", "soft", "hard", "low"]; // mem.state 0-4 (the lab's encoding)

function shown(value, unit) {
  if (unit === "mb") return formatNumber(value / 1024, 0);
  if (unit === "state") return MEMORY_STATES[value] || String(value);
  if (unit === "pct") return formatNumber(value, 1);
  if (unit === "hundredths") return formatNumber(value / 100, 2); // percent kept in 1/100 %
  return formatNumber(value, 0);
}

export function bindLiveValues(feed) {
  feed.on("sample", (message) => {
    const values = message.values || {};
    const present = (value) => value !== undefined && value !== null;
    document.querySelectorAll("[data-live]").forEach((element) => {
      const value = values[element.dataset.live];
      if (present(value)) element.textContent = shown(value, element.dataset.unit);
    });
    document.querySelectorAll("[data-live-free]").forEach((element) => {
      const used = values[element.dataset.liveFree];
      if (!present(used)) return;
      element.textContent = formatNumber(Math.max(0, Number(element.dataset.ofKb) - used) / 1024, 0);
    });
    document.querySelectorAll("[data-live-bar]").forEach((element) => {
      const value = values[element.dataset.liveBar];
      const whole = Number(element.dataset.ofKb);
      if (!present(value) || !whole) return;
      element.style.width = `${Math.max(0, Math.min(100, (100 * value) / whole)).toFixed(1)}%`;
    });
    document.querySelectorAll("[data-live-saving]").forEach((element) => {
      if (!present(values["mem.shared"]) || !present(values["mem.sharedcommon"])) return;
      element.textContent = formatNumber(Math.max(0, values["mem.shared"] - values["mem.sharedcommon"]) / 1024, 0);
    });
    document.querySelectorAll("[data-live-ts]").forEach((element) => {
      element.textContent = `${message.ts.replace("T", " ").replace(/\+00:00$|Z$/, "")} UTC`;
    });
  });
}
