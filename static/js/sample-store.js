/* The samples a chart holds: points by time (ms), each with its ISO stamp as the server wrote it
 * and one value per stat key ("mem.granted.average": number or null), oldest first.
 *
 * Real-time charts keep a moving window (`windowMs`, the real-time interval's retention): the
 * newest point and what came less than a window before it. Points merge by time, so a backfill
 * that overlaps what the websocket already pushed adds only what was missing.
 */

export class SampleStore {
  constructor({ windowMs = null } = {}) {
    this.windowMs = windowMs; // null: keep everything (a past timespan)
    this.clear();
  }

  clear() {
    this.times = [];
    this.points = new Map(); // ms -> {iso, values}
  }

  get size() {
    return this.times.length;
  }

  lastMs() {
    return this.times.length ? this.times[this.times.length - 1] : null;
  }

  lastIso() {
    const last = this.lastMs();
    return last === null ? null : this.points.get(last).iso;
  }

  /* Adds one point; "append" (newest), "insert" (older than the newest) or "duplicate" (a
   * point at that time is held already, and stays as it was). */
  put(ms, iso, values) {
    if (this.points.has(ms)) return "duplicate";
    this.points.set(ms, { iso, values });
    const last = this.lastMs();
    this.times.push(ms);
    if (last === null || ms > last) return "append";
    this.times.sort((a, b) => a - b);
    return "insert";
  }

  /* A live message `{"ts", "values": {"mem.granted": KB, ...}}` as a point of `keys`: a stat
   * key reads its counter's value (a real-time sample answers every rollup). */
  putSample(message, keys) {
    const values = {};
    for (const key of keys) {
      const value = message.values[key.slice(0, key.lastIndexOf("."))];
      values[key] = value === undefined ? null : value;
    }
    return this.put(Date.parse(message.ts), message.ts, values);
  }

  /* The stats endpoint's answer `{"timestamps": [...], "series": {key: [...]}}`: every point
   * not held yet. Returns how many were added. */
  putStats(data, keys) {
    let added = 0;
    data.timestamps.forEach((iso, index) => {
      const values = {};
      for (const key of keys) {
        const column = data.series[key];
        values[key] = column && column[index] !== undefined ? column[index] : null;
      }
      if (this.put(Date.parse(iso), iso, values) !== "duplicate") added += 1;
    });
    return added;
  }

  /* Drops the points that fell out of the window; returns how many. */
  trim() {
    if (this.windowMs === null || !this.times.length) return 0;
    const from = this.lastMs() - this.windowMs;
    let cut = 0;
    while (cut < this.times.length && this.times[cut] <= from) {
      this.points.delete(this.times[cut]);
      cut += 1;
    }
    this.times.splice(0, cut);
    return cut;
  }

  /* The ISO stamp of the point before a hole that a new point at `ms` would open (more than one
   * and a half sample periods after the newest point held), else null. */
  holeBefore(ms, periodMs) {
    const last = this.lastMs();
    return last !== null && ms - last > 1.5 * periodMs ? this.points.get(last).iso : null;
  }

  /* One key's values, oldest first, through `transform` (null stays null). */
  column(key, transform = (value) => value) {
    return this.times.map((ms) => {
      const value = this.points.get(ms).values[key];
      return value === null || value === undefined ? null : transform(value);
    });
  }

  rows() {
    return this.times.map((ms) => this.points.get(ms));
  }
}
