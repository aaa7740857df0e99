/* Numbers and text for the page: thousands separators, Plotly-safe names, file names. */

const numberFormats = new Map();

/* "1,234.5" with `digits` decimals; an em dash for a missing value. */
export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (!numberFormats.has(digits)) {
    numberFormats.set(
      digits,
      new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    );
  }
  return numberFormats.get(digits).format(value);
}

/* Plotly renders a subset of HTML in names and titles: anything from a user is escaped. */
export function plotlyText(text) {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

export function safeFilename(text) {
  return String(text).replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60) || "chart";
}
