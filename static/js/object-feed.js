/* The object page's live feed (/ws/perf/{kind}/{id}/, its state in #live-status), one per page
 * for every module that follows it. It connects once the page's modules have all run and
 * attached their listeners (module scripts run before DOMContentLoaded). */

import { LiveSocket } from "./live-socket.js";
import { config } from "./page-config.js";

export const objectFeed = config.wsPath
  ? new LiveSocket(config.wsPath, {
      messages: ["sample", "advanced"],
      statusElement: document.getElementById("live-status"),
    })
  : null;

if (objectFeed) document.addEventListener("DOMContentLoaded", () => objectFeed.connect());
