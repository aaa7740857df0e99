/* "Fetch a fragment and swap it in", for every part of a page that the server renders again
 * when a live feed says it changed: the inventory tree, the object header, the esxtop panel.
 * The fragment comes from the same template partial as the page, so names are escaped by Django
 * and permissions are checked as for the page. */

/* The fragment at `url` as a DocumentFragment; null when it cannot be had (network down, an
 * error answer, or a redirect: the session ended and the login page came back). */
export async function fetchFragment(url) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  } catch (error) {
    return null; // the live feed reconnects, and its listeners refetch then
  }
  if (!response.ok || response.redirected) return null;
  const holder = document.createElement("template");
  holder.innerHTML = await response.text();
  return holder.content;
}

/* Replace each element of the page matching one of `selectors` by its match in `fresh`. */
export function replaceEach(fresh, selectors) {
  for (const selector of selectors) {
    const old = document.querySelector(selector);
    const replacement = fresh.querySelector(selector);
    if (old && replacement) old.replaceWith(replacement);
  }
}

/* Runs `refresh` (async) when asked, never twice at once: asked while it runs, it runs once more
 * when done. With `windowMs`, asks within that window after the first give one run at its end
 * (a burst of live messages gives one refetch). */
export class Refresher {
  constructor(refresh, { windowMs = 0 } = {}) {
    this.refresh = refresh;
    this.windowMs = windowMs;
    this.timer = null;
    this.busy = false;
    this.again = false;
  }

  schedule() {
    if (!this.windowMs) {
      this.run();
      return;
    }
    if (this.timer !== null) return; // a run is already due at the end of this window
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run();
    }, this.windowMs);
  }

  async run() {
    if (this.busy) {
      this.again = true; // changed while fetching: fetch once more when done
      return;
    }
    this.busy = true;
    try {
      await this.refresh();
    } catch (error) {
      console.error("vmemlab: a refresh failed", error);
    } finally {
      this.busy = false;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    }
  }
}
