/* Export of what the chart shows: CSV of the samples held (in the units the chart shows, the
 * time as the server stamped it) and PNG through Plotly. */

import { safeFilename } from "./format.js";

export function csvCell(text) {
  const value = String(text);
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/* The CSV text (RFC 4180: CRLF line ends, quoted where needed) of `model`'s keys over `store`. */
export function csvText(model, store) {
  const header = ["Time", ...model.keys.map((key) => `${key} (${model.unitOf(key)})`)];
  const lines = [header.map(csvCell).join(",")];
  for (const point of store.rows()) {
    const cells = model.keys.map((key) => {
      const value = model.valueOf(key, point.values[key]);
      return value === null ? "" : String(value);
    });
    lines.push([point.iso, ...cells].map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

export function fileStem(name, timespan) {
  return `${safeFilename(name)}-memory-${timespan}`;
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function downloadCsv(model, store, stem) {
  download(`${stem}.csv`, new Blob([csvText(model, store)], { type: "text/csv" }));
}
