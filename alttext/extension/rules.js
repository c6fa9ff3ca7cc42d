/* The alt-text rules (docs/alt-text-rules.md) on a live DOM: the twin of alttext/scan.py's Rules,
   function for function, with the same decisions and the same reasons, so that the extension and
   `alttext fill` decide alike. tests/test_extension.py runs both on the scan tests' pages.

   Where a live page differs from page bytes: text inside <noscript> is not text (scripts run here),
   and only elements are seen (the browser has already dropped comments, scripts' text, templates). */
(function (root) {
  "use strict";

  const KEEP = "keep"; // never touch: it has alt, is decorative, hidden or named
  const FILL = "fill"; // write a caption
  const REVIEW = "review"; // write a caption and flag it for a person
  const EMPTY = "empty"; // write alt="": the link or button around it already has text
  const REPORT = "report"; // needs alt, but only a person can write it: list it, write nothing
  const NEEDS_ALT = new Set([FILL, REVIEW, EMPTY, REPORT]);

  const words = (text) => new Set(text.split(/\s+/).filter(Boolean));
  const GLOBAL_ARIA = words(
    "aria-atomic aria-braillelabel aria-brailleroledescription aria-busy aria-controls " +
      "aria-current aria-describedby aria-description aria-details aria-disabled aria-dropeffect " +
      "aria-errormessage aria-flowto aria-grabbed aria-haspopup aria-hidden aria-invalid " +
      "aria-keyshortcuts aria-label aria-labelledby aria-live aria-owns aria-relevant " +
      "aria-roledescription"
  );
  const INTERACTIVE_ROLES = words(
    "button checkbox combobox gridcell link menuitem menuitemcheckbox menuitemradio option " +
      "radio scrollbar searchbox slider spinbutton switch tab textbox treeitem"
  );
  const RAW_TEXT = words("script style xmp iframe noembed noframes textarea title plaintext noscript");
  const LAZY_SOURCES = ["data-src", "data-lazy-src", "data-original"];
  const PLACEHOLDER =
    /(?:^|\/)(?:blank|spacer|pixel|transparent|placeholder|lazy|loading|1x1|clear|empty)[^/]*\.(?:gif|png|svg|webp|jpe?g)(?:[?#].*)?$/i;
  const HTML_SPACE = " \t\n\f\r";
  const HTML_STRIP = /^[ \t\n\f\r]+|[ \t\n\f\r]+$/g;
  // Python's str.strip() and str.split(): scan.py uses them on alt, title, role and id lists.
  const PY_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
  const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");
  const PY_SPLIT = new RegExp(`[${PY_SPACE}]+`);
  const XHTML = "http://www.w3.org/1999/xhtml";

  const htmlStrip = (text) => text.replace(HTML_STRIP, "");
  const pyStrip = (text) => text.replace(PY_STRIP, "");
  const pySplit = (text) => text.split(PY_SPLIT).filter(Boolean);
  const join = (notes, reason) => [...notes, reason].join("; ");

  /** null: no such attribute; true: empty or only HTML spaces; false: has content (scan._blank). */
  function blank(element, name) {
    const value = element.getAttribute(name);
    return value === null ? null : htmlStrip(value) === "";
  }

  /** An attribute's value stripped and lower-cased, or null. */
  function value(element, name) {
    const found = element.getAttribute(name);
    return found === null ? null : htmlStrip(found).toLowerCase();
  }

  function role(element) {
    const found = value(element, "role");
    return (found && pySplit(found)[0]) || null;
  }

  function* ancestors(element) {
    for (let node = element.parentElement; node; node = node.parentElement) yield node;
  }

  // ------------------------------------------------------------ facts about an element

  /** scan.language_at: its own or its nearest ancestor's `lang` (HTML elements only); null where none
      says, or where the nearest says lang="" (unknown). What the service chooses OCR's language by. */
  function languageAt(element) {
    for (const node of [element, ...ancestors(element)]) {
      if (node.namespaceURI === XHTML && node.hasAttribute("lang")) return htmlStrip(node.getAttribute("lang")) || null;
    }
    return null;
  }

  function hidden(element) {
    for (const node of [element, ...ancestors(element)]) {
      if (node.hasAttribute("hidden") || value(node, "aria-hidden") === "true") return true;
    }
    return false;
  }

  /** Focusable or carrying global ARIA: a browser then ignores role=presentation. */
  function exposed(element) {
    return element.hasAttribute("tabindex") || [...element.attributes].some((a) => GLOBAL_ARIA.has(a.name));
  }

  /** Text that is not only HTML spaces somewhere inside, outside raw-text elements. */
  function hasText(element) {
    const walker = element.ownerDocument.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      const raw = parent && parent.namespaceURI === XHTML && RAW_TEXT.has(parent.localName);
      if (!raw && htmlStrip(node.data) !== "") return true;
    }
    return false;
  }

  /** Images with alt text inside: they name a link as text does. */
  function altImages(element) {
    return [...element.querySelectorAll("img")].filter((img) => blank(img, "alt") === false).length;
  }

  /** Text, an image with alt (other than `but`) or an aria-label: what names a link. */
  function hasWords(element, but) {
    const ownAlt = but && blank(but, "alt") === false ? 1 : 0;
    return hasText(element) || altImages(element) > ownAlt || blank(element, "aria-label") === false;
  }

  /** Why the element already has an accessible name, or null. */
  function named(element) {
    if (blank(element, "aria-label") === false) return "has aria-label";
    for (const target of pySplit(element.getAttribute("aria-labelledby") || "")) {
      const labelled = element.ownerDocument.getElementById(target);
      if (labelled && hasWords(labelled)) return "has aria-labelledby";
    }
    if (element.localName === "input" && labelled(element)) return "has a <label>";
    return null;
  }

  function labelled(element) {
    for (const node of ancestors(element)) if (node.localName === "label" && hasText(node)) return true;
    const id = element.getAttribute("id");
    if (!id) return false;
    return [...element.ownerDocument.querySelectorAll("label[for]")].some(
      (label) => label.getAttribute("for") === id && hasText(label)
    );
  }

  /** The nearest link or button the image sits in. */
  function control(element) {
    for (const node of ancestors(element)) {
      const name = node.localName;
      if ((name === "a" && node.hasAttribute("href")) || name === "button") return node;
      if (["link", "button"].includes(role(node))) return node;
    }
    return null;
  }

  // ------------------------------------------------------------ decisions

  /** The facts that decide an image needing alt by where it sits: what the service is sent. */
  function context(element, imageRole, notes) {
    const around = control(element);
    return {
      element: element.localName,
      role: imageRole,
      control: around ? around.localName : null,
      controlHasText: Boolean(around && hasWords(around, element)),
      notes,
    };
  }

  /** scan.context_decision: the service decides with the Python original. */
  function contextDecision(facts) {
    const { element, role: imageRole, control: around, controlHasText, notes } = facts;
    if (element === "input") return [REVIEW, join(notes, "image button: alt must say what it does")];
    if (INTERACTIVE_ROLES.has(imageRole)) return [REVIEW, join(notes, `role=${imageRole}: alt must say what it does`)];
    if (around === null) return [FILL, notes.join("; ") || "missing alt"];
    if (controlHasText) return [EMPTY, join(notes, `its <${around}> already has text: alt=""`)];
    return [REVIEW, join(notes, `only content of its <${around}>: alt must say its purpose`)];
  }

  function imgDecision(element, imageRole, options) {
    const isInput = element.localName === "input";
    const notes = [];
    const alt = element.getAttribute("alt");
    if (hidden(element)) return [KEEP, "hidden from assistive technology"];
    if (alt === "" && !isInput) return [KEEP, 'alt="" marks it decorative'];
    if (alt !== null && pyStrip(alt)) {
      if (!options.overwrite) return [KEEP, "has alt text"];
      notes.push("alt replaced (--overwrite)");
    } else if (alt) {
      notes.push("alt was only whitespace");
    } else if (isInput && alt === "") {
      notes.push('alt="" on an image button');
    }
    if (!isInput && (imageRole === "presentation" || imageRole === "none") && !exposed(element)) {
      return [KEEP, `role=${imageRole} marks it decorative`];
    }
    const name = named(element);
    if (name) return [KEEP, name];
    const title = element.getAttribute("title");
    if (title && pyStrip(title)) {
      if (!options.fillTitled) return [REPORT, "has only a title, which is advisory (--fill-titled fills it)"];
      notes.push("had only a title");
    }
    const facts = context(element, imageRole, notes);
    return [...contextDecision(facts), facts];
  }

  function areaDecision(element) {
    if (hidden(element) || blank(element, "alt") === false) return [KEEP, "has alt text"];
    const name = named(element);
    if (name) return [KEEP, name];
    return [REPORT, "<area href> without alt: a person must say where it links"];
  }

  function roleImgDecision(element) {
    if (hidden(element)) return [KEEP, "hidden from assistive technology"];
    const name = named(element);
    if (name || blank(element, "title") === false) return [KEEP, name || "has a title"];
    const titleChild = [...element.children].find((child) => child.localName === "title");
    if (element.localName === "svg" && titleChild && hasText(titleChild)) return [KEEP, "has a <title>"];
    return [REPORT, `role=img on <${element.localName}> without a name: needs aria-label`];
  }

  /** {decision, reason, context} for an element that may need alt, or null for any other element.
      options: {overwrite, fillTitled}, as fill's --overwrite and --fill-titled (the extension uses neither). */
  function decide(element, options = {}) {
    const name = element.localName;
    const imageRole = role(element);
    let found;
    if (name === "img" || (name === "input" && value(element, "type") === "image")) {
      found = imgDecision(element, imageRole, options);
    } else if (name === "area" && element.hasAttribute("href")) {
      found = areaDecision(element);
    } else if (imageRole === "img") {
      found = roleImgDecision(element);
    } else {
      return null;
    }
    return { decision: found[0], reason: found[1], context: found[2] || null };
  }

  /** Every element of the document that may need alt, in document order, with its decision. */
  function findImages(doc, options = {}) {
    const found = [];
    for (const element of doc.querySelectorAll("img, input, area[href], [role]")) {
      const decided = decide(element, options);
      if (decided) found.push({ element, ...decided });
    }
    return found;
  }

  // ------------------------------------------------------------ where the pixels are

  /** True when src is no picture of its own: missing, a data: URL or a placeholder's file name. */
  function placeholderSrc(element) {
    const src = pyStrip(element.getAttribute("src") || "");
    return !src || src.slice(0, 5).toLowerCase() === "data:" || PLACEHOLDER.test(src);
  }

  /** Candidate pixel URLs as written in the page, best first (scan.Rules.sources). */
  function sources(element) {
    if (element.localName === "input") {
      const src = element.getAttribute("src");
      return src && pyStrip(src) ? [pyStrip(src)] : [];
    }
    if (element.localName !== "img") return [];
    const src = pyStrip(element.getAttribute("src") || "");
    const found = LAZY_SOURCES.map((name) => element.getAttribute(name));
    const picture = element.parentElement && element.parentElement.localName === "picture" ? element.parentElement : null;
    const pictureSources = picture ? [...picture.children].filter((child) => child.localName === "source") : [];
    for (const tag of [element, ...pictureSources]) {
      for (const name of ["data-srcset", "srcset"]) {
        const srcset = tag.getAttribute(name);
        found.push(srcset === null ? null : largestCandidate(srcset));
      }
    }
    const kept = found.filter((s) => s && pyStrip(s)).map(pyStrip);
    const ordered = placeholderSrc(element) ? [...kept, src] : [src, ...kept];
    return [...new Set(ordered.filter(Boolean))];
  }

  /** The URL of the widest (or densest) candidate of a srcset. */
  function largestCandidate(srcset) {
    let best = null;
    let bestSize = -1;
    for (const [url, descriptor] of srcsetCandidates(srcset)) {
      const size = candidateSize(descriptor);
      if (size > bestSize) [best, bestSize] = [url, size];
    }
    return best;
  }

  function* srcsetCandidates(srcset) {
    let pos = 0;
    const end = srcset.length;
    while (pos < end) {
      while (pos < end && (HTML_SPACE.includes(srcset[pos]) || srcset[pos] === ",")) pos++;
      let urlEnd = pos;
      while (urlEnd < end && !HTML_SPACE.includes(srcset[urlEnd])) urlEnd++;
      const url = srcset.slice(pos, urlEnd);
      const stripped = url.replace(/,+$/, "");
      if (stripped !== url) {
        // "a.jpg," has no descriptors
        pos = urlEnd;
        if (stripped) yield [stripped, ""];
        continue;
      }
      let depth = 0;
      let descEnd = urlEnd;
      while (descEnd < end && (srcset[descEnd] !== "," || depth)) {
        depth += { "(": 1, ")": -1 }[srcset[descEnd]] || 0;
        descEnd++;
      }
      if (url) yield [url, pyStrip(srcset.slice(urlEnd, descEnd))];
      pos = descEnd + 1;
    }
  }

  /** Python's float() for what a descriptor holds; null where it raises ValueError. */
  function pyFloat(text) {
    const t = pyStrip(text);
    if (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(t)) return Number(t);
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(t);
    if (!special) return null;
    return special[2].toLowerCase() === "nan" ? NaN : special[1] === "-" ? -Infinity : Infinity;
  }

  function candidateSize(descriptor) {
    // A width descriptor ranks above any density: it is the size of the file itself.
    for (const part of pySplit(descriptor)) {
      const number = part.endsWith("w") || part.endsWith("x") ? pyFloat(part.slice(0, -1)) : null;
      if (number === null) continue;
      return part.endsWith("w") ? 1e6 + number : number;
    }
    return 1.0;
  }

  root.AltTextRules = {
    KEEP, FILL, REVIEW, EMPTY, REPORT, NEEDS_ALT,
    decide, findImages, contextDecision, sources, placeholderSrc, largestCandidate, languageAt,
  };
})(globalThis);
