/* The Memory map tab: guest virtual, guest physical and machine lanes with traced pages, the MMU
 * panel, the processes and traced pages (a VM); machine memory by owner (a host). The maps come
 * from the page's JSON (#page-config memoryMapUrl), refetched after every live sample and every
 * few seconds, which also keeps the map watched so the worker draws it. */

import { formatNumber, plotlyText } from "./format.js";
import { objectFeed } from "./object-feed.js";
import { config } from "./page-config.js";

const POLL_MS = 5000;
const LANE = { machine: 0, physical: 1.4, virtual: 2.9 }; // y of each lane's bottom
const LANE_HEIGHT = 1.0;
const ROW = 0.55; // y step between process rows of the virtual lane
const VIRTUAL_BASE_PAGE = 0x400; // hostsim.engine.processes.VIRTUAL_BASE_PAGE
const MACHINE_LANES = [
  ["this", "This VM's frames", "#0079b8"],
  ["others", "Other VMs' frames", "#b5b5b5"],
  ["shared", "Shared frames", "#c25400"],
  ["host", "VMkernel, overhead, caches", "#7d7d7d"],
  ["free", "Free", "#f2f2f2"],
];
const HATCH = { shape: "/", size: 6, solidity: 0.35, fillmode: "overlay" }; // .memmap-swatch-hatched
const VM_PALETTE = ["#0079b8", "#62a420", "#8939ad", "#e12200", "#00a1b3", "#d48200", "#4d5f94", "#9b6b00"];

const plotElement = document.getElementById("memmap");
const statusElement = document.getElementById("memmap-status");
const legend = config.legend || [];
const colourOf = Object.fromEntries(legend.map((item) => [item.state, item.colour]));
let fetching = false;

function mb(pages, pageKb) {
  return formatNumber((pages * pageKb) / 1024, 1);
}

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

function table(headers, rows) {
  const element = document.createElement("table");
  element.className = "memmap-table";
  const head = element.createTHead().insertRow();
  headers.forEach(([label, numeric]) => head.appendChild(cell("th", label, numeric ? "num" : "")));
  const body = element.createTBody();
  rows.forEach((values) => {
    const row = body.insertRow();
    values.forEach((value, index) => row.appendChild(cell("td", value, headers[index][1] ? "num" : "")));
  });
  return element;
}

function paintSwatches() {
  document.querySelectorAll(".memmap-swatch[data-colour]").forEach((swatch) => {
    if (swatch.classList.contains("memmap-swatch-hatched")) swatch.style.color = swatch.dataset.colour;
    else swatch.style.background = swatch.dataset.colour;
  });
}

function setTotals(totals, pageKb) {
  document.querySelectorAll("[data-total]").forEach((element) => {
    const pages = totals[element.dataset.total];
    element.textContent = pages === undefined ? "—" : `${mb(pages, pageKb)} MB`;
  });
}

/* Each cell's bar centre and width in lane coordinates (x from 0 to 1 over the lane). */
function cellColumns(sizes, total) {
  const x = [];
  const width = [];
  let position = 0;
  sizes.forEach((size) => {
    x.push((position + size / 2) / total);
    width.push(size / total);
    position += size;
  });
  return { x, width };
}

/* One stacked bar per cell and state. */
function stackedBars(states, counts, sizes, total, bottom, names, colours, hover) {
  const { x, width } = cellColumns(sizes, total);
  const base = sizes.map(() => bottom);
  return states.map((state) => {
    const y = counts[state].map((count, index) => (LANE_HEIGHT * count) / (sizes[index] || 1));
    const trace = {
      type: "bar", x, y, width, base: base.slice(), name: names[state], marker: { color: colours[state], line: { width: 0 } },
      hovertext: hover, hoverinfo: "text", showlegend: false,
    };
    y.forEach((value, index) => { base[index] += value; });
    return trace;
  });
}

function cellHover(map, unit, pageKb, labels) {
  return map.size.map((size, index) => {
    const parts = map.states
      .filter((state) => map.counts[state][index])
      .map((state) => `${plotlyText(labels[state] || state)}: ${mb(map.counts[state][index], pageKb)} MB`);
    if (map.large && map.large[index]) parts.push(`${plotlyText(labels.large)}: ${mb(map.large[index], pageKb)} MB`);
    const owner = map.owner ? `<br>owner: ${plotlyText(labels[map.owner[index]] || map.owner[index])}` : "";
    return `${unit} ${formatNumber(map.start[index])}–${formatNumber(map.start[index] + size - 1)}${owner}<br>${parts.join("<br>")}`;
  });
}

/* The host map's frames backing large pages, hatched over the top of each cell's bar: the VMs are
 * stacked last (hostsim.layers), and a cell's large frames are some of its VMs' frames. */
function largeOverlay(map, total, colour, hover) {
  const { x, width } = cellColumns(map.size, total);
  const y = map.large.map((count, index) => (LANE_HEIGHT * count) / (map.size[index] || 1));
  return {
    type: "bar", x, y, width, base: y.map((height) => LANE_HEIGHT - height), name: "large",
    marker: { color: "rgba(0, 0, 0, 0)", line: { width: 0 }, pattern: { ...HATCH, fgcolor: colour } },
    hovertext: hover, hoverinfo: "text", showlegend: false,
  };
}

function virtualLane(processes, pageKb) {
  const extent = Math.max(1, ...processes.flatMap((p) => p.areas.map((a) => a.start - VIRTUAL_BASE_PAGE + a.pages)));
  const reserved = { x: [], y: [], text: [] };
  const resident = { x: [], y: [], text: [] };
  const rowOf = {};
  processes.forEach((process, row) => {
    const y = LANE.virtual + row * ROW;
    rowOf[process.pid] = { y, extent };
    process.areas.forEach((area) => {
      const from = (area.start - VIRTUAL_BASE_PAGE) / extent;
      const text = `${plotlyText(process.name)} (${process.pid}) ${plotlyText(area.name)}${area.shared ? " (shared with its parent)" : ""}<br>` +
        `${mb(area.pages, pageKb)} MB reserved, ${mb(area.resident, pageKb)} MB resident`;
      reserved.x.push(from, from + area.pages / extent, null);
      reserved.y.push(y, y, null);
      reserved.text.push(text, text, "");
      resident.x.push(from, from + area.resident / extent, null);
      resident.y.push(y, y, null);
      resident.text.push(text, text, "");
    });
  });
  const line = (points, colour, name) => ({
    type: "scatter", mode: "lines", x: points.x, y: points.y, hovertext: points.text, hoverinfo: "text",
    line: { color: colour, width: 9 }, name, showlegend: false,
  });
  return { traces: [line(reserved, "#d9c6e8", "reserved"), line(resident, "#7a4f9e", "resident")], rowOf };
}

function traceLines(data, rowOf) {
  const process = rowOf[data.trace.process];
  return data.trace.pages.map((page) => {
    const x = [(page.virtual_page - VIRTUAL_BASE_PAGE) / process.extent];
    const y = [process.y];
    if (page.guest_page !== null) {
      x.push((page.guest_page + 0.5) / data.pages);
      y.push(LANE.physical + LANE_HEIGHT);
    }
    if (page.machine_frame !== null) {
      x.push((page.machine_frame + 0.5) / data.machine.frames);
      y.push(LANE.machine + LANE_HEIGHT);
    }
    const others = page.also_mapped_by.map((hit) => `VM ${hit.vm} page ${hit.guest_page}`).join(", ");
    const text = `${plotlyText(data.trace.name)} ${page.virtual_address} (${plotlyText(page.area)})<br>` +
      `guest physical page: ${page.guest_page ?? "not present"}<br>machine frame: ${page.machine_frame ?? page.backing}` +
      `<br>frame references: ${page.frame_refs}${others ? `<br>also mapped by: ${plotlyText(others)}` : ""}` +
      `<br>shadow entry: ${page.shadow_entry ? "yes" : "no"}, TLB entry: ${page.tlb_entry ? "yes" : "no"}`;
    return {
      type: "scatter", mode: "lines+markers", x, y, hovertext: x.map(() => text), hoverinfo: "text",
      line: { color: "#1a1a1a", width: 1.2 }, marker: { size: 7, color: "#1a1a1a" }, showlegend: false,
    };
  });
}

function renderVm(data) {
  const labels = Object.fromEntries(legend.map((item) => [item.state, item.label]));
  const states = legend.map((item) => item.state);
  const physical = stackedBars(
    states, data.map.counts, data.map.size, data.pages, LANE.physical, labels, colourOf,
    cellHover(data.map, "guest pages", data.pageKb, labels)
  );
  const machineStates = MACHINE_LANES.map(([state]) => state);
  const machineLabels = Object.fromEntries(MACHINE_LANES.map(([state, label]) => [state, label]));
  const machineColours = Object.fromEntries(MACHINE_LANES.map(([state, , colour]) => [state, colour]));
  const machineMap = { ...data.machine, states: machineStates, start: [] };
  let start = 0;
  data.machine.size.forEach((size) => { machineMap.start.push(start); start += size; });
  const machine = stackedBars(
    machineStates, data.machine.counts, data.machine.size, data.machine.frames, LANE.machine,
    machineLabels, machineColours, cellHover(machineMap, "machine frames", data.pageKb, machineLabels)
  );
  const processes = data.processes;
  const virtual = virtualLane(processes, data.pageKb);
  const top = LANE.virtual + Math.max(1, processes.length) * ROW;
  const layout = {
    barmode: "overlay", bargap: 0, margin: { l: 150, r: 10, t: 10, b: 20 }, hovermode: "closest",
    xaxis: { range: [0, 1], showticklabels: false, showgrid: false, zeroline: false, fixedrange: true },
    yaxis: {
      range: [-0.1, top], fixedrange: true, showgrid: false, zeroline: false,
      tickvals: [LANE.machine + 0.5, LANE.physical + 0.5, ...processes.map((p, row) => LANE.virtual + row * ROW)],
      ticktext: ["Machine", "Guest physical", ...processes.map((p) => `${plotlyText(p.name)} (${p.pid})`)],
    },
  };
  const traces = [...machine, ...physical, ...virtual.traces, ...traceLines(data, virtual.rowOf)];
  window.Plotly.react(plotElement, traces, layout, { displayModeBar: false, responsive: true });
  setTotals(data.map.totals, data.pageKb);
  renderMmu(data.mmu, data.pageKb);
  renderProcesses(processes);
  renderTrace(data.trace);
}

const MODE_NAMES = { software: "Software (shadow page tables)", hardware: "Hardware (EPT/RVI)" };

function renderMmu(mmu, pageKb) {
  const panel = document.getElementById("mmu-panel");
  const modes = [mmu.current, mmu.other].filter(Boolean);
  const rows = [
    ["Shadow entries", (m) => formatNumber(m.shadow_entries)],
    ["Shadow syncs/s", (m) => formatNumber(m.syncs_per_s)],
    ["Traps/s (syncs and switches)", (m) => formatNumber(m.traps_per_s)],
    ["TLB misses/s", (m) => formatNumber(m.tlb_misses_per_s)],
    ["References per miss", (m) => formatNumber(m.walk_refs)],
    ["MMU overhead", (m) => `${formatNumber(m.overhead_percent, 2)} %`],
  ];
  const headers = [["", false], ...modes.map((m, i) => [`${MODE_NAMES[m.mode]}${i ? " (computed)" : " (running)"}`, true])];
  const body = rows.map(([label, value]) => [label, ...modes.map(value)]);
  const why = document.createElement("p");
  why.className = "mmu-why";
  why.textContent =
    `${formatNumber(mmu.page_table_updates_per_s)} guest page-table updates/s and ` +
    `${formatNumber(mmu.context_switches_per_s)} context switches/s; working set ` +
    `${mb(mmu.working_set_pages, pageKb)} MB against a TLB reach of ` +
    `${formatNumber(mmu.tlb_reach_kb / 1024, 0)} MB per vCPU. Software MMU pays a trap per update and switch; ` +
    "hardware MMU pays more references per TLB miss." +
    (mmu.other ? "" : " This host's CPU has no hardware MMU.");
  panel.replaceChildren(table(headers, body), why);
  panel.dataset.mode = mmu.mode;
}

function renderProcesses(processes) {
  const rows = processes.map((p) => [
    `${p.name} (${p.pid})`, formatNumber(p.virtual / 1024, 1), formatNumber(p.resident / 1024, 1),
    p.areas.map((a) => a.name).join(", "),
  ]);
  document.getElementById("process-table").replaceChildren(
    table([["Process", false], ["Virtual MB", true], ["Resident MB", true], ["Areas", false]], rows)
  );
}

function renderTrace(trace) {
  const rows = trace.pages.map((page) => [
    `${trace.name} (${trace.process})`, page.area, page.virtual_address,
    page.guest_page === null ? "—" : formatNumber(page.guest_page),
    page.machine_frame === null ? page.backing : formatNumber(page.machine_frame),
    formatNumber(page.frame_refs),
    page.also_mapped_by.map((hit) => `VM ${hit.vm}: ${hit.guest_page}`).join(", ") || "—",
    page.shadow_entry ? "yes" : "no", page.tlb_entry ? "yes" : "no",
  ]);
  const headers = [
    ["Process", false], ["Area", false], ["Virtual address", false], ["Guest page", true], ["Machine frame", true],
    ["Frame refs", true], ["Also mapped by", false], ["Shadow", false], ["TLB", false],
  ];
  document.getElementById("trace-table").replaceChildren(table(headers, rows));
}

function renderHost(data) {
  const legendElement = document.getElementById("memmap-legend");
  const labels = Object.fromEntries(legend.map((item) => [item.state, item.label]));
  const colours = { ...colourOf };
  Object.entries(data.vms).forEach(([id, name], index) => {
    labels[id] = `VM ${name}`;
    colours[id] = VM_PALETTE[index % VM_PALETTE.length];
    let item = legendElement.querySelector(`[data-state="vm-${CSS.escape(id)}"]`);
    if (!item) {
      item = document.createElement("li");
      item.dataset.state = `vm-${id}`;
      const swatch = cell("span", "", "memmap-swatch");
      swatch.dataset.colour = colours[id];
      const total = cell("span", "—", "memmap-total");
      total.dataset.total = id;
      item.append(swatch, document.createTextNode(`${name} `), total);
      legendElement.appendChild(item);
    }
  });
  paintSwatches();
  const hover = cellHover(data.map, "machine frames", data.pageKb, labels);
  const traces = stackedBars(data.map.states, data.map.counts, data.map.size, data.frames, 0, labels, colours, hover);
  traces.push(largeOverlay(data.map, data.frames, colours.large, hover));
  const layout = {
    barmode: "overlay", bargap: 0, margin: { l: 10, r: 10, t: 10, b: 20 }, hovermode: "closest",
    xaxis: { range: [0, 1], showticklabels: false, showgrid: false, zeroline: false, fixedrange: true },
    yaxis: { range: [0, LANE_HEIGHT], visible: false, fixedrange: true },
  };
  window.Plotly.react(plotElement, traces, layout, { displayModeBar: false, responsive: true });
  setTotals({ ...data.map.totals, large: data.map.largeTotal }, data.pageKb);
}

async function refresh() {
  if (fetching || !config.memoryMapUrl) return;
  fetching = true;
  try {
    const response = await fetch(config.memoryMapUrl, { headers: { Accept: "application/json" } });
    const data = await response.json();
    if (!response.ok) {
      statusElement.textContent = data.error || `The map could not be read (${response.status}).`;
      return;
    }
    if (!data.ready) {
      statusElement.textContent = data.message;
      return;
    }
    if (data.poweredOn === false) {
      statusElement.textContent = "The VM is powered off: nothing is mapped.";
      return;
    }
    if (plotElement.dataset.kind === "vm") renderVm(data);
    else renderHost(data);
    plotElement.dataset.ts = data.ts;
    statusElement.textContent = `As of ${new Date(data.ts).toLocaleTimeString()} (simulated)${data.sampled ? ", sampled" : ""}.`;
  } catch (error) {
    statusElement.textContent = `The map could not be read: ${error.message}`;
  } finally {
    fetching = false;
  }
}

if (plotElement) {
  paintSwatches();
  refresh();
  window.setInterval(refresh, POLL_MS);
  if (objectFeed) objectFeed.on("sample", () => refresh());
}
