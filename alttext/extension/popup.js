/* The action's popup: is the local service running, and what was done on the page in this tab. */
"use strict";

const LABELS = [
  ["filled", "Alt text written"],
  ["decorative", 'Marked decorative (alt="")'],
  ["hedged", "Written as a guess (“Appears to be: …”)"],
  ["review", "Flagged for a person"],
  ["skipped", "Skipped (image not readable)"],
  ["kept", "Kept as they were"],
  ["pending", "Being described"],
  ["needed", "Need alt text"],
];

/** The tab this popup is about: ?tab=ID when opened as a page, else the active tab. */
async function tabId() {
  const asked = new URLSearchParams(location.search).get("tab");
  if (asked) return Number(asked);
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab ? tab.id : null;
}

function showService(service) {
  const line = document.getElementById("service");
  line.replaceChildren();
  line.classList.toggle("down", !service.ok);
  if (service.ok) {
    const { model, device } = service.health;
    line.append(`The alttext service is running at ${service.serviceUrl} (model ${model}, on ${device}).`);
    return;
  }
  const command = document.createElement("code");
  command.textContent = "alttext serve";
  line.append(`The alttext service is not running at ${service.serviceUrl}, so this page was left as it was. `,
    "Start it with ", command, " and open this again.");
}

function showCounts(page) {
  const list = document.getElementById("counts");
  list.replaceChildren();
  for (const [name, label] of LABELS) {
    const count = page.counts[name] || 0;
    if (!count && (name === "pending" || name === "needed")) continue;
    const term = document.createElement("dt");
    term.textContent = label;
    const value = document.createElement("dd");
    value.id = `count-${name}`;
    value.textContent = String(count);
    list.append(term, value);
  }
}

/** Each flagged image: where it is, why a person should look, and what the model guessed (not written). */
function showFlagged(flagged) {
  const list = document.getElementById("flagged");
  list.replaceChildren();
  document.getElementById("flagged-section").hidden = !flagged.length;
  for (const { source, reason, guess } of flagged) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = /^https?:/.test(source) ? source : "#";
    link.target = "_blank";
    link.textContent = !source ? "an image without a source" : source.startsWith("data:") ? "an inline image" :
      source.split(/[/?#]/).filter(Boolean).pop();
    item.append(link, `: ${reason || "no reason given"}`);
    if (guess) {
      const said = document.createElement("q");
      said.textContent = guess;
      item.append(document.createElement("br"), "The model's guess: ", said);
    }
    list.append(item);
  }
}

async function show() {
  const id = await tabId();
  const status = await chrome.runtime.sendMessage({ type: "status", tabId: id });
  showService(status.service);
  showCounts(status.page);
  showFlagged(status.page.flagged || []);
  document.getElementById("url").value = status.service.serviceUrl;
  if (status.service.ok && id !== null && status.page.counts.needed) {
    chrome.tabs.sendMessage(id, { type: "rescan" }).catch(() => {}); // it was down when the page loaded
  }
}

const hedge = document.getElementById("hedge");
chrome.storage.local.get("hedge").then((stored) => (hedge.checked = stored.hedge === true));
hedge.addEventListener("change", () => chrome.storage.local.set({ hedge: hedge.checked }));

document.getElementById("address").addEventListener("submit", async (event) => {
  event.preventDefault();
  const url = document.getElementById("url").value.trim();
  await chrome.storage.local.set({ serviceUrl: url });
  show();
});

show();
