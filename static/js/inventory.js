/* The inventory tree and the object header, live, on every page.
 *
 * The page follows /ws/inventory/; a message ({"type": "inventory", "host": id}) says that a
 * host's pools, VMs or power states changed, and carries no names. The page then refetches the
 * tree from the server (rendered by the same partial as the page, filtered by the user's view
 * permissions, names escaped by Django) and swaps it in, keeping the collapsed nodes, the
 * selected node and the keyboard focus; an object page also refreshes its header icon and state
 * badge. A burst of messages gives one refetch per REFRESH_WINDOW_MS; after a reconnect the page
 * refetches too, for what it missed while the socket was down.
 */
(function () {
  "use strict";

  const lab = window.vmemlab;
  const pane = document.querySelector(".inventory-pane[data-feed]");
  if (!lab || !pane) return;

  const config = lab.config;
  const REFRESH_WINDOW_MS = 300; // messages within this window after the first one: one refetch

  function currentTree() {
    return pane.querySelector("nav.tree");
  }

  function keyOf(element) {
    const item = element && element.closest("li[data-key]");
    return item ? item.dataset.key : "";
  }

  function itemSelector(key) {
    return 'li[data-key="' + CSS.escape(key) + '"]';
  }

  function collapsedKeys(tree) {
    const keys = new Set();
    tree.querySelectorAll("li[data-key] > details:not([open])").forEach(function (details) {
      keys.add(details.parentElement.dataset.key);
    });
    return keys;
  }

  async function refreshTree() {
    const tree = currentTree();
    if (!tree) return;
    const selected = keyOf(tree.querySelector(".tree-link.is-selected"));
    let response;
    try {
      response = await fetch(pane.dataset.treeUrl + "?selected=" + encodeURIComponent(selected), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
    } catch (error) {
      return; // the feed reconnects, and refetches then
    }
    // A redirect means the session ended (login page): keep the last tree.
    if (!response.ok || response.redirected) return;
    const holder = document.createElement("template");
    holder.innerHTML = await response.text();
    const fresh = holder.content.querySelector("nav.tree");
    const old = currentTree();
    if (!fresh || !old) return;
    // Read the state now, not before the fetch, so a node toggled meanwhile stays as left.
    const collapsed = collapsedKeys(old);
    fresh.querySelectorAll("li[data-key] > details").forEach(function (details) {
      if (collapsed.has(details.parentElement.dataset.key)) details.open = false;
    });
    const active = old.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = keyOf(active);
    const focusSummary = Boolean(active && active.tagName === "SUMMARY");
    old.replaceWith(fresh);
    if (focusKey) {
      const item = fresh.querySelector(itemSelector(focusKey));
      const target = item && (focusSummary ? item.querySelector(":scope > details > summary") : item.querySelector(".tree-link"));
      if (target) target.focus();
    }
  }

  async function refreshHeader() {
    if (!config.headerUrl) return;
    const result = await lab.api("GET", config.headerUrl);
    const header = result.data;
    if (!result.ok || typeof header.icon !== "string") return; // gone, or the session ended
    const icon = document.getElementById("object-icon");
    if (icon) {
      icon.setAttribute("class", "icon icon-xl icon-" + header.icon);
      icon.querySelector("use").setAttribute("href", "#icon-" + header.icon);
    }
    const badge = document.getElementById("object-state");
    if (badge && header.state) {
      badge.textContent = header.state;
      badge.classList.toggle("is-on", Boolean(header.stateOn));
      badge.classList.toggle("is-off", !header.stateOn);
    }
  }

  let windowTimer = null;
  let busy = false;
  let again = false;

  async function refresh() {
    if (busy) {
      again = true; // changed while fetching: fetch once more when done
      return;
    }
    busy = true;
    try {
      await Promise.all([refreshTree(), refreshHeader()]);
    } catch (error) {
      console.error("vmemlab: could not refresh the inventory", error);
    } finally {
      busy = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  function schedule() {
    if (windowTimer !== null) return; // a refetch is already due at the end of this window
    windowTimer = window.setTimeout(function () {
      windowTimer = null;
      refresh();
    }, REFRESH_WINDOW_MS);
  }

  const feed = new lab.LiveFeed(pane.dataset.feed, { messages: ["inventory"] });
  feed.on("inventory", schedule);
  feed.on("reconnected", schedule);
  feed.on("status", function (status) {
    pane.dataset.feedState = status.state;
  });
  lab.inventoryFeed = feed;
  feed.connect();
})();
