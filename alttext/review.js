/* alttext review's page: keyboard shortcuts, and each decision sent to /v1/decide. */
const sections = [...document.querySelectorAll(".picture")];
const progress = document.getElementById("progress");
function current() {
  const here = document.activeElement && document.activeElement.closest(".picture");
  return here || sections.find(s => !s.classList.contains("done")) || sections[0];
}
function go(section, step) {
  const at = sections.indexOf(section);
  const next = sections.slice(at + 1).concat(sections.slice(0, at + 1)).find(s => !s.classList.contains("done"));
  const target = step < 0 ? sections[Math.max(0, at - 1)] : (next || sections[Math.min(sections.length - 1, at + 1)]);
  if (target) { target.querySelector("h2").focus(); }
}
async function send(section, body, said) {
  const out = section.querySelector(".outcome");
  const response = await fetch("/v1/decide", {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify({digest: section.dataset.digest, ...body})});
  const answer = await response.json();
  if (!response.ok) { out.textContent = "Not saved: " + answer.error; progress.textContent = out.textContent; return; }
  section.classList.add("done");
  out.textContent = said + (body.skip ? "" : ", written to " + answer.pages + (answer.pages === 1 ? " page" : " pages"));
  progress.textContent = answer.decided + " of " + answer.total + " pictures done. Picture " +
    (sections.indexOf(section) + 1) + ": " + out.textContent + ".";
  go(section, 1);
}
function accept(section) {
  const alt = section.querySelector("textarea").value.trim();
  if (!alt) { section.querySelector(".outcome").textContent = "Write alt text, or choose Decorative.";
              section.querySelector("textarea").focus(); return; }
  send(section, {alt}, "Saved “" + alt + "”");
}
for (const section of sections) {
  section.querySelector("form").addEventListener("submit", event => { event.preventDefault(); accept(section); });
  section.querySelector(".decorative").addEventListener("click", () => send(section, {decorative: true}, "Marked decorative"));
  section.querySelector(".skip").addEventListener("click", () => send(section, {skip: true}, "Skipped"));
  section.querySelector("textarea").addEventListener("keydown", event => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); accept(section); }
  });
  for (const use of section.querySelectorAll(".use")) {
    use.addEventListener("click", () => { const box = section.querySelector("textarea"); box.value = use.textContent; box.focus(); });
  }
}
document.addEventListener("keydown", event => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches("textarea, input")) return;
  const section = current();
  if (!section) return;
  const key = event.key.toLowerCase();
  const act = {a: () => accept(section), e: () => section.querySelector("textarea").focus(),
               d: () => send(section, {decorative: true}, "Marked decorative"),
               s: () => send(section, {skip: true}, "Skipped"), n: () => go(section, 1), p: () => go(section, -1)}[key];
  if (act) { event.preventDefault(); act(); }
});
