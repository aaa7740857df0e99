/* Summary tabs: live numbers and bars from the websocket; after a fast-forward ended the page
 * reloads, since the summary reflects the new state of the whole host. */

import { bindLiveValues } from "./live-values.js";
import { objectFeed } from "./object-feed.js";

const RELOAD_AFTER_MS = 1500; // lets the last samples of the fast-forward land first

if (objectFeed) {
  bindLiveValues(objectFeed);
  objectFeed.on("advanced", (message) => {
    if (message && message.final === false) return; // still running: its progress bar follows it
    window.setTimeout(() => window.location.reload(), RELOAD_AFTER_MS);
  });
}
