/* Lab controls (shown only with the change permission): each form calls the JSON API with the
 * CSRF token and shows the answer, including the reason of a refusal. */

import { api, describeFields } from "./api.js";
import { formatNumber } from "./format.js";
import { config } from "./page-config.js";

const UNITS = { memory: "MB", cpu: "MHz" };

function show(form, text, detail, isError) {
  const element = form.querySelector("[data-message]");
  element.hidden = false;
  element.classList.toggle("is-error", Boolean(isError));
  element.setAttribute("role", isError ? "alert" : "status");
  element.textContent = text;
  if (detail) {
    const extra = document.createElement("span");
    extra.className = "detail";
    extra.textContent = detail;
    element.appendChild(extra);
  }
}

function refusal(data) {
  const parts = [];
  if (data.fault) parts.push(data.fault);
  if (data.pool) parts.push("pool: " + data.pool);
  const unit = UNITS[data.resource] || "";
  if (data.resource) parts.push("resource: " + data.resource);
  if (data.requested !== undefined && data.requested !== null) parts.push("requested: " + formatNumber(data.requested) + " " + unit);
  if (data.unreserved !== undefined && data.unreserved !== null) parts.push("unreserved: " + formatNumber(data.unreserved) + " " + unit);
  // Field messages the error sentence does not already say.
  const said = data.error || "";
  describeFields(data.fields).forEach(function (detail) {
    const message = detail.slice(detail.indexOf(": ") + 2);
    if (said.indexOf(message) === -1) parts.push(detail);
  });
  return parts.join(" · ");
}

function showFailure(form, result, what) {
  const data = result.data || {};
  show(form, what + " refused: " + (data.error || "the server answered " + result.status + "."), refusal(data), true);
}

async function call(form, button, method, url, body, what, onSuccess) {
  const buttons = Array.prototype.slice.call(form.querySelectorAll("button"));
  const wasDisabled = buttons.map(function (b) { return b.disabled; });
  buttons.forEach(function (b) { b.disabled = true; });
  show(form, what + "…", "", false);
  let result;
  try {
    result = await api(method, url, body);
  } finally {
    buttons.forEach(function (b, index) { b.disabled = wasDisabled[index]; });
  }
  if (result.ok) onSuccess(result.data || {});
  else showFailure(form, result, what);
  return result;
}

function reloadSoon() {
  window.setTimeout(function () { window.location.reload(); }, 900);
}

const handlers = {
  power: function (form, submitter) {
    const op = submitter && submitter.value === "power-off" ? "power-off" : "power-on";
    const what = op === "power-on" ? "Power on" : "Power off";
    return call(form, submitter, "POST", config.apiUrl + op + "/", {}, what, function () {
      show(form, what + " done.", "Reloading the page…", false);
      reloadSoon();
    });
  },
  guest: function (form, submitter) {
    const action = submitter ? submitter.value : "allocate";
    let body;
    if (action === "write") {
      const fraction = Number(form.elements.fraction.value);
      if (!(fraction >= 0 && fraction <= 1) || form.elements.fraction.value === "") {
        show(form, "The fraction to rewrite must be between 0 and 1.", "", true);
        return null;
      }
      body = { action: "write", fraction: fraction };
    } else {
      const mb = Number(form.elements.mb.value);
      if (!Number.isInteger(mb) || mb <= 0) {
        show(form, "The amount must be a positive whole number of MB.", "", true);
        return null;
      }
      body = { action: action, mb: mb };
    }
    const label = { allocate: "Allocate", free: "Free", write: "Write" }[action] || action;
    return call(form, submitter, "POST", config.apiUrl + "guest/", body, label, function () {
      show(form, label + " queued: the guest does it at the next tick.", "", false);
    });
  },
  pshare: function (form, submitter) {
    const enabled = form.elements.pshareEnabled.checked;
    return call(form, submitter, "PATCH", config.apiUrl, { pshareEnabled: enabled }, "Page sharing change", function () {
      show(form, "sched.mem.pshare.enable is now " + (enabled ? "TRUE" : "FALSE") + ".", "Applied at the next tick.", false);
    });
  },
  memory: function (form, submitter) {
    const whole = function (name) {
      const text = form.elements[name].value.trim();
      return text === "" || !Number.isInteger(Number(text)) ? null : Number(text);
    };
    const reservation = whole("reservation");
    const limit = form.elements.unlimited.checked ? -1 : whole("limit");
    const level = form.elements.level.value;
    const shares = { level: level };
    if (level === "custom") shares.shares = whole("shares");
    if (reservation === null || limit === null || (level === "custom" && shares.shares === null)) {
      show(form, "Reservation, limit and custom shares must be whole numbers.", "", true);
      return null;
    }
    const memoryAllocation = { reservation: reservation, limit: limit, shares: shares };
    return call(form, submitter, "PATCH", config.apiUrl, { memoryAllocation: memoryAllocation }, "Memory resources change", function (vm) {
      const saved = vm.memoryAllocation;
      const cap = saved.limit === -1 ? "unlimited" : formatNumber(saved.limit) + " MB";
      show(form, "Reservation " + formatNumber(saved.reservation) + " MB, limit " + cap + ", shares " + saved.shares.level + " (" + formatNumber(saved.shares.shares) + ").",
        "The memory scheduler divides memory with it from its next balance period.", false);
    });
  },
  balloon: function (form, submitter) {
    const running = form.elements.balloonDriver.checked;
    return call(form, submitter, "PATCH", config.apiUrl, { balloonDriver: running }, "Balloon driver change", function () {
      show(form, "The balloon driver is now " + (running ? "running" : "stopped") + ".", running ? "" : "Memory the host reclaims from this VM is swapped instead of ballooned.", false);
    });
  },
  mmu: function (form, submitter) {
    const mode = form.elements.mmuMode.value;
    return call(form, submitter, "PATCH", config.apiUrl, { mmuMode: mode }, "MMU mode change", function () {
      show(form, "CPU/MMU virtualization is now " + mode + ".", "Applied at the next tick.", false);
    });
  },
  tps: function (form, submitter) {
    const settings = {};
    let problem = "";
    form.querySelectorAll("input[type=number], select").forEach(function (input) {
      const value = Number(input.value);
      if (input.value === "" || !Number.isInteger(value)) problem = input.name + " must be a whole number.";
      settings[input.name] = value;
    });
    if (problem) {
      show(form, problem, "", true);
      return null;
    }
    return call(form, submitter, "PATCH", config.apiUrl, { advancedSettings: settings }, "Settings change", function () {
      show(form, "Advanced settings saved.", "The scanner uses them from the next tick.", false);
    });
  },
  advance: function (form, submitter) {
    const seconds = Number(form.elements.seconds.value);
    return call(form, submitter, "POST", config.apiUrl + "advance/", { seconds: seconds }, "Fast-forward", function (job) {
      followJob(form, job.url);
    });
  },
};

/* A fast-forward job (GET hosts/{id}/advance/{job}/): its progress bar follows it until it
 * ends, the charts reload every few seconds while it runs and once at the end. The form carries
 * the newest job's URL, so a reload goes on following it. */
const JOB_POLL_MS = 1000;
const STATE_LABELS = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled" };

function showJob(form, job) {
  const box = form.querySelector("[data-progress]");
  box.hidden = false;
  box.querySelector("progress").value = job.progress;
  const simulated = Math.round(job.simulatedSeconds / 60);
  const requested = Math.round(job.requestedSeconds / 60);
  box.querySelector("[data-status]").textContent = (STATE_LABELS[job.state] || job.state) + ": " +
    formatNumber(simulated) + " of " + formatNumber(requested) + " simulated minutes" +
    (job.reached ? " (reached " + new Date(job.reached).toLocaleString() + ")" : "") +
    (job.cancelRequested && (job.state === "queued" || job.state === "running") ? " · cancelling" : "");
  const cancel = form.querySelector("[data-cancel]");
  cancel.hidden = !(job.state === "queued" || job.state === "running");
  cancel.dataset.url = job.url + "cancel/";
}

async function followJob(form, url) {
  form.dataset.jobUrl = url;
  let reloaded = 0;
  for (;;) {
    const result = await api("GET", url);
    if (form.dataset.jobUrl !== url) return; // another job took its place
    if (!result.ok) {
      showFailure(form, result, "Following the fast-forward");
      return;
    }
    const job = result.data;
    showJob(form, job);
    if (job.state !== "queued" && job.state !== "running") {
      if (job.state === "done") show(form, "Fast-forward done.", job.from && job.reached ? "Simulated " + new Date(job.from).toLocaleString() + " → " + new Date(job.reached).toLocaleString() + "." : "", false);
      else if (job.state === "failed") show(form, "Fast-forward failed: " + job.error, "", true);
      else show(form, "Fast-forward cancelled.", "What it simulated so far is stored.", false);
      if (job.simulatedSeconds > reloaded) document.dispatchEvent(new CustomEvent("vmemlab:reload"));
      return;
    }
    show(form, job.state === "queued" ? "Fast-forward queued…" : "Fast-forward running…", "", false);
    await new Promise(function (resolve) { setTimeout(resolve, JOB_POLL_MS); });
  }
}

document.querySelectorAll("form.lab-form[data-lab=advance]").forEach(function (form) {
  const cancel = form.querySelector("[data-cancel]");
  cancel.addEventListener("click", function () {
    if (!cancel.dataset.url) return;
    call(form, cancel, "POST", cancel.dataset.url, {}, "Cancel", function (job) { showJob(form, job); });
  });
  if (form.dataset.jobUrl) followJob(form, form.dataset.jobUrl);
});

document.querySelectorAll("form.lab-form").forEach(function (form) {
  const handler = handlers[form.dataset.lab];
  if (!handler) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    handler(form, event.submitter || form.querySelector("button[type=submit]"));
  });
});
