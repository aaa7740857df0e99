/* The inventory tree and the object header, live, on every page.
 *
 * The page follows /ws/inventory/; a message ({"type": "inventory", "host": id}) says that a
 * host's pools, VMs or power states changed, and carries no names. The page then refetches the
 * tree and, on an object page, the object header (each rendered by the same partial as the page,
 * filtered by the user's view permissions) and swaps them in, the tree keeping its collapsed
 * nodes, the selected node and the keyboard focus. A burst of messages gives one refetch per
 * REFRESH_WINDOW_MS; after a reconnect the page refetches too, for what it missed meanwhile.
 */

import { fetchFragment, Refresher, replaceEach } from "./fragment.js";
import { LiveSocket } from "./live-socket.js";
import { config } from "./page-config.js";

const REFRESH_WINDOW_MS = 300; // messages within this window after the first one: one refetch
// What of the object header changes with the inventory (the live status is the object feed's).
const HEADER_PARTS = ["#object-icon", "#object-title", "#object-state"];

const pane = document.querySelector(".inventory-pane[data-feed]");

function currentTree() {
  return pane.querySelector("nav.tree");
}

function keyOf(element) {
  const item = element && element.closest("li[data-key]");
  return item ? item.dataset.key : "";
}

function collapsedKeys(tree) {
  const keys = new Set();
  tree.querySelectorAll("li[data-key] > details:not([open])").forEach((details) => {
    keys.add(details.parentElement.dataset.key);
  });
  return keys;
}

async function refreshTree() {
  const tree = currentTree();
  if (!tree) return;
  const selected = keyOf(tree.querySelector(".tree-link.is-selected"));
  const fragment = await fetchFragment(`${pane.dataset.treeUrl}?selected=${encodeURIComponent(selected)}`);
  const fresh = fragment && fragment.querySelector("nav.tree");
  const old = currentTree();
  if (!fresh || !old) return;
  // Read the state now, not before the fetch, so a node toggled meanwhile stays as left.
  const collapsed = collapsedKeys(old);
  fresh.querySelectorAll("li[data-key] > details").forEach((details) => {
    if (collapsed.has(details.parentElement.dataset.key)) details.open = false;
  });
  const active = old.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = keyOf(active);
  const focusSummary = Boolean(active && active.tagName === "SUMMARY");
  old.replaceWith(fresh);
  if (focusKey) {
    const item = fresh.querySelector(`li[data-key="${CSS.escape(focusKey)}"]`);
    const target = item && item.querySelector(focusSummary ? ":scope > details > summary" : ".tree-link");
    if (target) target.focus();
  }
}

async function refreshHeader() {
  if (!config.headerUrl) return;
  const fresh = await fetchFragment(config.headerUrl);
  if (fresh) replaceEach(fresh, HEADER_PARTS); // else gone, or the session ended: keep it
}

if (pane) {
  const refresher = new Refresher(() => Promise.all([refreshTree(), refreshHeader()]), {
    windowMs: REFRESH_WINDOW_MS,
  });
  const feed = new LiveSocket(pane.dataset.feed, { messages: ["inventory"] });
  feed.on("inventory", () => refresher.schedule());
  feed.on("reconnected", () => refresher.schedule());
  feed.on("status", (status) => {
    pane.dataset.feedState = status.state;
  });
  feed.connect();
}
