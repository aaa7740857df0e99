/* The JSON API client: same-origin credentials, the CSRF token on writes, and one answer shape. */

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

/* Resolves to {ok, status, data}; data is the parsed JSON body, or {error: "..."} when the
 * server answered something else. Never rejects for an HTTP error. */
export async function api(method, url, body) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET" && method !== "HEAD") {
    options.headers["X-CSRFToken"] = csrfToken();
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    return { ok: false, status: 0, data: { error: "The server cannot be reached." } };
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
  }
  if (data === null || typeof data !== "object") {
    data = response.ok ? {} : { error: `The server answered ${response.status} ${response.statusText}.` };
  }
  return { ok: response.ok, status: response.status, data };
}

/* An error answer's `fields` as "name: message" lines, nested fields as "outer.inner: ...". */
export function describeFields(fields, prefix) {
  const parts = [];
  for (const [name, value] of Object.entries(fields || {})) {
    const label = prefix ? `${prefix}.${name}` : name;
    if (value && typeof value === "object" && !Array.isArray(value)) {
      parts.push(...describeFields(value, label));
    } else {
      parts.push(`${label}: ${Array.isArray(value) ? value.join(" ") : value}`);
    }
  }
  return parts;
}
