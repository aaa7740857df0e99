/* Summary tabs: live numbers and bars (data-live attributes) from the websocket; after a
 * fast-forward ended the page reloads, since the summary reflects the new state of the whole host. */
(function () {
  "use strict";
  const lab = window.vmemlab;
  if (!lab.feed) return;
  lab.bindLiveValues(lab.feed);
  lab.feed.on("advanced", function (message) {
    if (message && message.final === false) return; // still running: its progress bar follows it
    window.setTimeout(function () {
      window.location.reload();
    }, 1500);
  });
})();
