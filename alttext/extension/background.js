/* The extension's service worker: fetches the pixels of the images a page's content script names
   (host permissions let it read other origins' images) and posts them to the local alttext service
   (`alttext serve`), which never fetches anything itself. Keeps each tab's counts for the popup
   and the action badge. */
"use strict";

const DEFAULT_SERVICE = "http://127.0.0.1:8765";
const MAX_BYTES = 20 * 1024 * 1024; // as alttext/fetch.py's MAX_BYTES
const MIN_SIDE = 3; // as alttext/resolve.py: smaller on both sides is a placeholder, not a picture
const SIZE_CHECK_BYTES = 256 * 1024; // only files this small are decoded to look for a placeholder
const FETCH_TIMEOUT_MS = 10000; // as fetch.TIMEOUT_S
const HEALTH_TIMEOUT_MS = 3000;
const DESCRIBE_TIMEOUT_MS = 300000;
const BATCH_IMAGES = 8; // per request to the service
const PARALLEL_REQUESTS = 3; // per page: the service answers in turn, and other tabs wait behind
const BUSY_TRIES = 5; // answers "busy" (503) waited out, each for its Retry-After (at most MAX_WAIT_S)
const MAX_WAIT_S = 30;
const BATCH_CHARS = 16 * 1024 * 1024; // of base64 per request (the service takes 32 MB)
const PARALLEL_FETCHES = 6;
const MAX_IMAGES = 2000; // per message from a page
const ACCEPT = "image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8";

async function serviceUrl() {
  const { serviceUrl: stored } = await chrome.storage.local.get("serviceUrl");
  return (typeof stored === "string" && /^https?:\/\//.test(stored) ? stored : DEFAULT_SERVICE).replace(/\/+$/, "");
}

async function health() {
  const base = await serviceUrl();
  try {
    const response = await fetch(`${base}/v1/health`, {
      credentials: "omit",
      cache: "no-store",
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
    const body = response.ok ? await response.json() : null;
    if (!body || body.service !== "alttext") return { ok: false, serviceUrl: base, error: `HTTP ${response.status}` };
    return { ok: true, serviceUrl: base, health: body };
  } catch (error) {
    return { ok: false, serviceUrl: base, error: "not reachable" };
  }
}

// ---------------------------------------------------------------- pixels

const PRIVATE_NAMES = /(^|\.)(localhost|local|internal|intranet|lan|corp|home\.arpa)$/;

/** A private-network host: loopback, RFC 1918, CGNAT, link-local, multicast, unique-local and IPv4 inside
    IPv6, single-label or local names. The URL parser gives one spelling of an address (decimal, octal, hex
    and short IPv4 forms become dotted decimal, IPv6 is compressed, names lower case); trailing dots are
    taken off here, as DNS ignores them. What cannot be parsed counts as private. */
function privateHost(hostname) {
  let host;
  try {
    host = new URL(`http://${hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname}/`).hostname;
  } catch {
    return true;
  }
  host = host.replace(/\.+$/, "");
  if (host.startsWith("[")) return privateV6(host.slice(1, -1));
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) return privateV4(v4.slice(1).map(Number));
  return PRIVATE_NAMES.test(host) || !host.includes("."); // a single label only resolves inside a network
}

function privateV4([a, b]) {
  return a === 0 || a === 10 || a === 127 || a >= 224 || (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19));
}

/** `address`: as the URL parser writes it, compressed, without brackets. */
function privateV6(address) {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, null];
  const part = (text) => (text ? text.split(":").map((group) => parseInt(group, 16)) : []);
  const front = part(head);
  const back = part(tail);
  const groups = [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
  const v4 = (hi, lo) => [hi >> 8, hi & 255, lo >> 8, lo & 255];
  const [g0, g1, g2] = groups;
  if (groups.slice(0, 5).every((g) => g === 0) && (groups[5] === 0 || groups[5] === 0xffff)) {
    return privateV4(v4(groups[6], groups[7])); // ::, ::1, IPv4-compatible and IPv4-mapped
  }
  if (g0 === 0x64 && g1 === 0xff9b) return privateV4(v4(groups[6], groups[7])); // NAT64
  if (g0 === 0x2002) return privateV4(v4(g1, g2)); // 6to4
  return (g0 & 0xfe00) === 0xfc00 || (g0 & 0xffc0) === 0xfe80 || (g0 & 0xffc0) === 0xfec0 || (g0 & 0xff00) === 0xff00;
}

/** A public page may not have us read an image on a private network: its alt would tell the page what
    that image shows, which the browser would never let the page see. */
function refusePrivate(target, page) {
  if (privateHost(target.hostname) && !privateHost(page.hostname)) {
    throw new Error("on a private network, named by a public page: not read");
  }
}

async function fetchImage(url, page) {
  let target;
  try {
    target = new URL(url);
  } catch {
    throw new Error("not a URL");
  }
  if (target.protocol === "data:") return readCapped(await fetch(target));
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new Error(`${target.protocol.slice(0, -1)} URLs are not read`);
  }
  refusePrivate(target, page);
  let response;
  try {
    response = await fetch(target, {
      // the page may read its own origin's images; others' are read as a stranger would see them
      credentials: target.origin === page.origin ? "include" : "omit",
      headers: { Accept: ACCEPT },
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (error) {
    throw new Error(error && error.name === "TimeoutError" ? `timed out after ${FETCH_TIMEOUT_MS / 1000} s` : "could not fetch");
  }
  refusePrivate(new URL(response.url), page);
  if (response.status >= 400) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
  const type = (response.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
  if (!type.startsWith("image/")) throw new Error(`content type is ${type || "missing"}, not image`);
  return readCapped(response);
}

async function readCapped(response) {
  const tooLarge = `larger than ${MAX_BYTES / (1024 * 1024)} MB`;
  if (Number(response.headers.get("Content-Length")) > MAX_BYTES) throw new Error(tooLarge);
  const reader = response.body.getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_BYTES) {
      reader.cancel();
      throw new Error(tooLarge);
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

/** {width, height}; "large" when not decoded to save time; null when the browser cannot decode it. */
async function pictureSize(bytes) {
  if (bytes.length > SIZE_CHECK_BYTES) return "large";
  try {
    const bitmap = await createImageBitmap(new Blob([bytes]));
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return null;
  }
}

/** The first candidate that is a picture, as fill's ImageDescriptions.load picks it: a tiny placeholder
    is passed over when there are others; a file the browser cannot decode goes to the service (which
    reads more formats, and says why not) when nothing better is found. */
async function loadPicture(sources, page) {
  let firstError = null;
  let undecoded = null;
  for (const source of sources) {
    let bytes;
    try {
      bytes = await fetchImage(source, page);
    } catch (error) {
      firstError = firstError || { source, error: error.message };
      continue;
    }
    if (sources.length > 1) {
      const size = await pictureSize(bytes);
      if (size === null) {
        undecoded = undecoded || { source, bytes };
        continue;
      }
      if (size !== "large" && size.width < MIN_SIDE && size.height < MIN_SIDE) {
        firstError = firstError || { source, error: `a ${size.width}x${size.height} placeholder, not a picture` };
        continue;
      }
    }
    return { source, data: toBase64(bytes) };
  }
  if (undecoded) return { source: undecoded.source, data: toBase64(undecoded.bytes) };
  return firstError || { source: "", error: "no image source (src, srcset or data-src)" };
}

function toBase64(bytes) {
  if (typeof bytes.toBase64 === "function") return bytes.toBase64();
  let text = "";
  for (let at = 0; at < bytes.length; at += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(at, at + 0x8000));
  return btoa(text);
}

async function mapLimit(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const n = next++;
      results[n] = await work(items[n]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// ---------------------------------------------------------------- describing

/** Groups of {id, picture}, each small enough for one request to the service. */
function batches(wanted) {
  const groups = [];
  let group = [];
  let chars = 0;
  for (const item of wanted) {
    const size = item.picture.data.length;
    if (group.length && (group.length >= BATCH_IMAGES || chars + size > BATCH_CHARS)) {
      groups.push(group);
      group = [];
      chars = 0;
    }
    group.push(item);
    chars += size;
  }
  if (group.length) groups.push(group);
  return groups;
}

/** Each image's answer, handed to deliver({id, ...}) as soon as it is ready, in the order the page sent
    them (nearest the viewport first): pictures are fetched a group at a time and each group is asked
    for while the next is fetched, at most PARALLEL_REQUESTS at once. */
async function describe(message, sender, deliver) {
  const images = Array.isArray(message.images) ? message.images.slice(0, MAX_IMAGES) : [];
  const page = new URL(sender.url);
  const base = await serviceUrl();
  const running = new Set();
  let failure = null;
  for (let start = 0; start < images.length && !failure; start += BATCH_IMAGES) {
    const ids = images.slice(start, start + BATCH_IMAGES).map((image, n) => start + n);
    const pictures = await mapLimit(ids, PARALLEL_FETCHES, (id) =>
      loadPicture(Array.isArray(images[id].sources) ? images[id].sources.slice(0, 10).map(String) : [], page)
    );
    const wanted = [];
    pictures.forEach((picture, n) => {
      if (picture.error) deliver({ id: ids[n], source: picture.source, action: "skipped", alt: null, reason: picture.error });
      else {
        const { context, lang } = images[ids[n]];
        wanted.push({ id: ids[n], picture, context, lang: typeof lang === "string" ? lang : null });
      }
    });
    for (const group of batches(wanted)) {
      while (running.size >= PARALLEL_REQUESTS) await Promise.race(running);
      if (failure) break;
      const request = askService(base, group, message.ask === true, deliver)
        .catch((error) => (failure = failure || error))
        .finally(() => running.delete(request));
      running.add(request);
    }
  }
  await Promise.all(running);
  return failure ? { ok: false, error: failure.message } : { ok: true };
}

/** One request to the service; its NDJSON lines are delivered as they arrive. */
async function askService(base, group, ask, deliver) {
  const body = JSON.stringify({
    images: group.map(({ picture, context, lang }) => ({ source: picture.source, data: picture.data, context, lang })),
    ask,
  });
  for (let tries = 0; ; tries++) {
    const response = await fetch(`${base}/v1/describe`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      credentials: "omit",
      signal: AbortSignal.timeout(DESCRIBE_TIMEOUT_MS),
    });
    if (response.status === 503 && tries < BUSY_TRIES) {
      const wait = Math.min(MAX_WAIT_S, Math.max(1, Number(response.headers.get("Retry-After")) || 1));
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    if (!response.ok) {
      const answer = await response.json().catch(() => null);
      throw new Error(`the service answered HTTP ${response.status}${answer && answer.error ? `: ${answer.error}` : ""}`);
    }
    const answered = new Set();
    await eachLine(response, (line) => {
      const result = JSON.parse(line);
      const item = group[result.index];
      if (!item || answered.has(result.index)) return;
      answered.add(result.index);
      deliver({ ...result, id: item.id });
    });
    group.forEach((item, n) => answered.has(n) ||
      deliver({ id: item.id, source: item.picture.source, action: "skipped", alt: null, reason: "the service did not answer" }));
    return;
  }
}

async function eachLine(response, handle) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const lines = (rest + value).split("\n");
    rest = lines.pop();
    for (const line of lines) if (line.trim()) handle(line);
  }
  if (rest.trim()) handle(rest);
}

/** Work that may outlast the worker's idle limit: an extension call every 20 s keeps it alive. */
async function keptAlive(promise) {
  const timer = setInterval(() => chrome.runtime.getPlatformInfo(), 20000);
  try {
    return await promise;
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------- counts per tab

let saving = Promise.resolve(); // one read-modify-write of a tab's counts at a time

function tabKey(tabId) {
  return `tab:${tabId}`;
}

/** The counts of all frames of a tab, summed, and their flagged images; online: false when a frame found
    the service down. */
function summed(frames) {
  const counts = { filled: 0, decorative: 0, review: 0, skipped: 0, kept: 0, pending: 0, needed: 0 };
  const flagged = [];
  let online = null;
  for (const frame of Object.values(frames)) {
    for (const [name, count] of Object.entries(frame.counts || {})) counts[name] = (counts[name] || 0) + count;
    flagged.push(...(frame.flagged || []));
    if (frame.online === false || online === null) online = frame.online;
  }
  return { counts, online, flagged };
}

/** A frame's list of flagged images, as the popup shows it: strings only, bounded. */
function flaggedOf(list) {
  const text = (value, limit) => (typeof value === "string" ? value.slice(0, limit) : null);
  return (Array.isArray(list) ? list.slice(0, 100) : []).map((item) => ({
    source: text(item && item.source, 2000) || "",
    reason: text(item && item.reason, 500) || "",
    guess: text(item && item.guess, 500),
  }));
}

function recordCounts(message, sender) {
  const tabId = sender.tab && sender.tab.id;
  if (tabId === undefined) return Promise.resolve({ ok: true });
  saving = saving
    .then(async () => {
      const key = tabKey(tabId);
      const frames = (await chrome.storage.session.get(key))[key] || {};
      frames[sender.frameId || 0] = { counts: message.counts, online: message.online, flagged: flaggedOf(message.flagged) };
      await chrome.storage.session.set({ [key]: frames });
      await showBadge(tabId, summed(frames));
    })
    .catch(() => {}); // the tab went away meanwhile
  return saving.then(() => ({ ok: true }));
}

async function showBadge(tabId, { counts, online }) {
  const off = online === false && counts.needed > 0;
  const text = off ? "off" : counts.filled ? String(counts.filled) : "";
  await chrome.action.setBadgeBackgroundColor({ tabId, color: off ? "#6e7781" : "#1a7f37" });
  await chrome.action.setBadgeText({ tabId, text });
  const title = off
    ? `alttext: ${counts.needed} images need alt text, but the service is not running (alttext serve)`
    : `alttext: ${counts.filled} filled, ${counts.review} for review, ${counts.skipped} skipped`;
  await chrome.action.setTitle({ tabId, title });
}

function forget(tabId) {
  saving = saving.then(() => chrome.storage.session.remove(tabKey(tabId))).catch(() => {});
}

async function status(message) {
  const key = tabKey(message.tabId);
  const frames = (await chrome.storage.session.get(key))[key] || {};
  return { ok: true, service: await health(), page: summed(frames) };
}

const HANDLERS = {
  health: () => health(),
  counts: recordCounts,
  status,
};

/** A page's content script asks for descriptions over a port: a "result" message for each image as it is
    answered, then "done". */
chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== "describe" || !port.sender || port.sender.id !== chrome.runtime.id) return;
  let open = true;
  port.onDisconnect.addListener(() => (open = false));
  const post = (message) => open && port.postMessage(message);
  port.onMessage.addListener((message) => {
    keptAlive(describe(message, port.sender, (result) => post({ type: "result", result })))
      .catch((error) => ({ ok: false, error: String(error && error.message) }))
      .then((outcome) => post({ type: "done", ...outcome }));
  });
});

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  const handler = sender.id === chrome.runtime.id && message && HANDLERS[message.type];
  if (!handler) return false;
  handler(message, sender).then(reply, (error) => reply({ ok: false, error: String(error && error.message) }));
  return true;
});
// ---------------------------------------------------------------- describing on demand

/** "Describe this image" (context menu, on info.srcUrl) or the keyboard command (the focused image): the
    frame's content script finds the image, asks for its description and speaks it. */
function askToDescribe(info, tab) {
  if (!tab || tab.id === undefined) return Promise.resolve();
  const message = { type: "describe-asked", srcUrl: info.srcUrl || null };
  const where = info.frameId !== undefined ? { frameId: info.frameId } : {};
  return chrome.tabs.sendMessage(tab.id, message, where).catch(() => {}); // a page without the content script
}

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: "describe-image", title: "Describe this image", contexts: ["image"] }, () =>
    chrome.runtime.lastError); // already there after an update
});
chrome.contextMenus.onClicked.addListener((info, tab) => info.menuItemId === "describe-image" && askToDescribe(info, tab));
chrome.commands.onCommand.addListener((command, tab) => command === "describe-image" && askToDescribe({}, tab));
chrome.tabs.onUpdated.addListener((tabId, change) => change.status === "loading" && forget(tabId));
chrome.tabs.onRemoved.addListener((tabId) => forget(tabId));
