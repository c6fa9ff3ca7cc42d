/* Finds the images of this page (and of images added later) that need alt text by the rules
   (rules.js), asks the extension's service worker to have the local alttext service describe them,
   and writes what `alttext fill` would write: `alt` on the <img> or <input>, with
   data-alt-generated="alttext". When the service is not running, the page is left untouched. */
(() => {
  "use strict";
  const R = globalThis.AltTextRules;
  if (!R || globalThis.__altTextStarted) return;
  globalThis.__altTextStarted = true;

  const MARKER = ["data-alt-generated", "alttext"]; // as fill's default --marker
  const LIVE_REGION = "alttext-live-region";
  const SCAN_DELAY_MS = 150; // mutations are gathered this long before the page is looked at again
  const RECHECK_MS = 10000; // while the service is down, ask again at most this often
  const WATCHED = [
    "alt", "src", "srcset", "data-src", "data-lazy-src", "data-original", "data-srcset", "role", "hidden",
    "aria-hidden", "aria-label", "aria-labelledby", "title", "tabindex", "type", "href", "id", "for",
    "aria-describedby", "aria-live", "aria-description", "aria-details",
  ];

  let online = null; // null: not asked yet; then whether the service answered
  let hedge = false; // write "Appears to be: ..." for a caption under the threshold (popup option, off by default)
  let askedAt = 0;
  let scanTimer = null;
  let scanning = false;
  let rescan = false;
  let reportTimer = null;
  // element → what was done: {decision, key, action, alt (written, or null), before (alt before), marked}
  const done = new WeakMap();
  const inFlight = new WeakMap(); // element → the pixel key being described
  const outcomes = new Map(); // element → filled | decorative | review | skipped | kept | pending | needed
  const flagged = new Map(); // element → {source, reason, guess}: what the popup lists for a person
  const MAX_LISTED = 100;

  async function send(message) {
    try {
      return await chrome.runtime.sendMessage(message);
    } catch (error) {
      return { ok: false, error: String(error && error.message) }; // the extension was reloaded or removed
    }
  }

  function schedule(delay = SCAN_DELAY_MS) {
    if (scanTimer === null) {
      scanTimer = setTimeout(() => {
        scanTimer = null;
        scan();
      }, delay);
    }
  }

  async function scan() {
    if (scanning) {
      rescan = true;
      return;
    }
    scanning = true;
    try {
      await look();
    } finally {
      scanning = false;
      if (rescan) {
        rescan = false;
        schedule();
      }
    }
  }

  /** What the rules say of every image now; new work goes to the service in one batch. */
  async function look() {
    let found = R.findImages(document);
    if (online !== true && found.some((item) => R.NEEDS_ALT.has(item.decision)) && Date.now() - askedAt >= RECHECK_MS) {
      askedAt = Date.now();
      online = Boolean((await send({ type: "health" })).ok);
      found = R.findImages(document); // the page may have changed while we asked
    }
    for (const element of outcomes.keys()) if (!element.isConnected) outcomes.delete(element);
    for (const element of flagged.keys()) if (!element.isConnected) flagged.delete(element);
    const work = [];
    for (const item of found) {
      const next = settled(item);
      if (next) take(next, work);
    }
    if (work.length) describe(work);
    report();
  }

  /** The image's current decision, or null when what was done for it still holds. */
  function settled(item) {
    const { element } = item;
    const key = R.sources(element).join("\n");
    const mine = done.get(element);
    if (!mine) return { ...item, key };
    const intact = mine.alt === null ? item.decision === mine.decision : ours(element, mine);
    if (intact && (mine.key === null || mine.key === key)) {
      outcomes.set(element, mine.action);
      return null;
    }
    done.delete(element);
    if (!intact || mine.alt === null) return { ...item, key };
    undo(element, mine); // our alt described other pixels than the image shows now
    return { element, key, ...R.decide(element) };
  }

  function take(item, work) {
    const { element, decision, reason, key } = item;
    if (decision === R.KEEP) {
      outcomes.set(element, "kept");
    } else if (decision === R.REPORT) {
      outcomes.set(element, "review"); // <area>, title only, role=img: a person writes these
      note(element, reason);
    } else if (!online) {
      outcomes.set(element, "needed");
    } else if (decision === R.EMPTY) {
      const before = element.getAttribute("alt");
      done.set(element, { decision, key: null, action: "decorative", alt: "", before, marked: write(element, "") });
      outcomes.set(element, "decorative");
    } else if (inFlight.get(element) !== key) {
      inFlight.set(element, key);
      outcomes.set(element, "pending");
      work.push({ element, decision, key, context: item.context, alt: element.getAttribute("alt") });
    }
  }

  /** Has the service describe `work`, nearest the viewport first, and writes each answer as it comes. */
  async function describe(work) {
    work.sort((a, b) => distance(a.element) - distance(b.element));
    const images = work.map((item) => ({
      sources: pixels(item.element),
      context: item.context,
      lang: R.languageAt(item.element),
    }));
    const outcome = await request({ images }, (result) => {
      if (!work[result.id]) return;
      apply(work[result.id], result);
      report();
    });
    finish(work, outcome);
  }

  /** Sends `message` to the service worker over a port; onResult(result) for each image as it is answered;
      resolves to the outcome ({ok, error}) when all are. */
  function request(message, onResult) {
    return new Promise((resolve) => {
      let port;
      try {
        port = chrome.runtime.connect({ name: "describe" });
      } catch {
        resolve({ ok: false }); // the extension was reloaded or removed
        return;
      }
      port.onMessage.addListener((answer) => {
        if (answer.type === "result") onResult(answer.result);
        else if (answer.type === "done") {
          port.disconnect();
          resolve(answer);
        }
      });
      port.onDisconnect.addListener(() => resolve({ ok: false }));
      port.postMessage(message);
    });
  }

  function finish(work, outcome) {
    for (const item of work) if (inFlight.get(item.element) === item.key) inFlight.delete(item.element);
    if (!outcome.ok) {
      online = false; // leave the page as it is; the next look asks the service again
      askedAt = Date.now();
      for (const item of work) if (outcomes.get(item.element) === "pending") outcomes.set(item.element, "needed");
    }
    report();
  }

  /** How far the element is from the top of the part of the page on screen, in pixels, up or down: those
      on screen come first, top to bottom, then the nearest. */
  function distance(element) {
    const box = element.getBoundingClientRect();
    if (!box.width && !box.height) return Number.MAX_SAFE_INTEGER; // not laid out: last
    return box.bottom < 0 ? -box.bottom : Math.max(0, box.top);
  }

  /** Write what the service said, unless the image changed meanwhile (an alt appeared, new pixels, a new place). */
  function apply(item, result) {
    const { element } = item;
    if (inFlight.get(element) === item.key) inFlight.delete(element);
    if (!element.isConnected) return;
    const now = R.decide(element);
    const same = now && now.decision === item.decision && element.getAttribute("alt") === item.alt;
    if (!same || R.sources(element).join("\n") !== item.key) {
      schedule();
      return;
    }
    let alt = typeof result.alt === "string" ? result.alt : null;
    let action = result.action === "filled" && alt === "" ? "decorative" : result.action;
    if (alt === null && hedge && item.decision === R.FILL && typeof result.guess === "string" && result.guess) {
      alt = hedged(result.guess); // under the threshold: the reader chose to hear the guess, as a guess
      action = "hedged";
    }
    const marked = alt !== null && write(element, alt);
    done.set(element, { decision: item.decision, key: item.key, action, alt, before: item.alt, marked });
    outcomes.set(element, action);
    if (action !== "filled" && action !== "decorative") note(element, result.reason, result.guess);
  }

  /** Where the pixels are, absolute, best first: what the browser shows, unless that is a placeholder. */
  function pixels(element) {
    const chain = [];
    for (const source of R.sources(element)) {
      try {
        chain.push(new URL(source, document.baseURI).href);
      } catch {
        // not a URL: nothing to read there
      }
    }
    const current = element.currentSrc;
    if (current && !current.startsWith("data:") && !R.placeholderSrc(element)) {
      return [current, ...chain.filter((url) => url !== current)];
    }
    return chain;
  }

  function write(element, alt) {
    const marked = !element.hasAttribute(MARKER[0]);
    element.setAttribute("alt", alt);
    if (marked) element.setAttribute(MARKER[0], MARKER[1]);
    return marked;
  }

  function ours(element, mine) {
    return mine.alt !== null && element.getAttribute("alt") === mine.alt &&
      (!mine.marked || element.getAttribute(MARKER[0]) === MARKER[1]);
  }

  function undo(element, mine) {
    if (mine.before === null) element.removeAttribute("alt");
    else element.setAttribute("alt", mine.before);
    if (mine.marked) element.removeAttribute(MARKER[0]);
  }

  function note(element, reason, guess = null) {
    if (flagged.has(element)) return;
    const source = element.currentSrc || R.sources(element)[0] || element.getAttribute("href") || "";
    flagged.set(element, { source, reason: reason || "", guess: typeof guess === "string" ? guess : null });
    console.info("alttext: needs a person:", reason, element);
  }

  function report() {
    if (reportTimer !== null) return;
    reportTimer = setTimeout(() => {
      reportTimer = null;
      const counts = { filled: 0, decorative: 0, hedged: 0, review: 0, skipped: 0, kept: 0, pending: 0, needed: 0 };
      for (const action of outcomes.values()) counts[action] = (counts[action] || 0) + 1;
      const listed = [...flagged].filter(([element]) => ["review", "hedged", "skipped"].includes(outcomes.get(element)));
      send({ type: "counts", online, counts, flagged: listed.slice(0, MAX_LISTED).map(([, item]) => item) });
    }, 100);
  }

  function hedged(guess) {
    const first = guess.split(" ")[0];
    const lower = first.length > 1 && first === first.toUpperCase() ? guess : guess[0].toLowerCase() + guess.slice(1);
    return `Appears to be: ${lower}`;
  }

  // ---------------------------------------------------------------- describing on demand

  /** An <img> or <input type=image>, or the one image inside a link or button. */
  function imageAt(node) {
    if (!(node instanceof Element)) return null;
    if (node.matches("img, input[type=image i]")) return node;
    const inside = node.querySelectorAll("img, input[type=image i]");
    return inside.length === 1 ? inside[0] : null;
  }

  function askedImage(srcUrl) {
    const shows = (element) => element && element.isConnected && (!srcUrl || element.currentSrc === srcUrl || element.src === srcUrl);
    if (shows(pointed)) return pointed;
    if (srcUrl) return [...document.images].find(shows) || null;
    return imageAt(document.activeElement);
  }

  /** The reader asked for a description of an image (context menu: `srcUrl`; keyboard: the focused image,
      else the one under the pointer): the model's best description, spoken, said to be automatic. */
  async function describeAsked(srcUrl) {
    const focused = document.activeElement;
    if (!srcUrl && (!document.hasFocus() || (focused && /^i?frame$/i.test(focused.localName)))) return; // another frame's
    const element = askedImage(srcUrl);
    if (!element) {
      speak("alttext: no image is focused or under the pointer.");
      return;
    }
    speak("alttext: describing the image.");
    const sources = [...new Set([srcUrl, ...pixels(element)].filter(Boolean))];
    let found = null;
    const outcome = await request({ images: [{ sources, context: {}, lang: R.languageAt(element) }], ask: true }, (result) => (found = result));
    if (found && found.action === "described" && found.alt) speak(`Automatic description, may be wrong: ${found.alt}`);
    else speak(`alttext could not describe this image: ${(found && found.reason) || outcome.error || "the service is not running"}.`);
  }

  /** Says `text` through a polite live region of our own (visually hidden). */
  function speak(text) {
    let region = document.getElementById(LIVE_REGION);
    if (!region) {
      region = document.createElement("div");
      region.id = LIVE_REGION;
      region.setAttribute("role", "status");
      region.setAttribute(MARKER[0], MARKER[1]);
      region.style.cssText = "position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;" +
        "overflow:hidden;clip-path:inset(50%);white-space:nowrap";
      document.body.append(region);
    }
    region.textContent = text;
  }

  let pointed = null; // the image last right-clicked or under the pointer
  const point = (event) => (pointed = imageAt(event.target) || pointed);
  document.addEventListener("contextmenu", point, true);
  document.addEventListener("mouseover", point, true);
  chrome.storage.local.get("hedge").then((stored) => (hedge = stored.hedge === true), () => {});
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && changes.hedge) hedge = changes.hedge.newValue === true;
  });

  chrome.runtime.onMessage.addListener((message) => {
    if (message && message.type === "rescan") {
      askedAt = 0;
      if (online === false) online = null;
      schedule(0);
    } else if (message && message.type === "describe-asked") {
      describeAsked(typeof message.srcUrl === "string" ? message.srcUrl : null);
    }
  });
  new MutationObserver(() => schedule()).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: WATCHED,
  });
  document.addEventListener("load", (event) => event.target instanceof HTMLImageElement && schedule(), true);
  schedule(0);
})();
