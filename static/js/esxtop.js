/* Monitor > Performance > Memory (esxtop) of a host: the panel is rendered by the server; after
 * each of the host's own samples, a fast-forward, or a reconnect, the page swaps in a fresh one. */

import { fetchFragment, Refresher } from "./fragment.js";

export function setupEsxtop(container, feed) {
  const refresher = new Refresher(async () => {
    const fresh = await fetchFragment(container.dataset.url);
    if (fresh) container.replaceChildren(fresh); // else keep the last panel
  });
  const refresh = () => refresher.schedule();
  feed.on("sample", (message) => {
    if (message.values && "mem.sharedcommon" in message.values) refresh(); // the host's own row
  });
  feed.on("advanced", refresh);
  feed.on("reconnected", refresh);
}
