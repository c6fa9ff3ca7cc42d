"""Page bytes → the images on it that need alt text, with byte offsets into the original bytes.

The page is never decoded and re-encoded: the tokenizer reads a view of the bytes in which each
character stands for one code unit (one byte, or two for UTF-16), so every index is a byte offset
and bytes that are invalid in the page's charset cannot get lost. Markup delimiters are ASCII, and
in every ASCII-compatible charset an ASCII byte is that character.
"""

from __future__ import annotations

import codecs
import html
import re
import sys
from array import array
from dataclasses import dataclass, field

# Decisions: what the rules say to do with one image.
KEEP = "keep"  # never touch: it has alt, is decorative, hidden or named
FILL = "fill"  # write a caption
REVIEW = "review"  # write a caption and flag it for a person
EMPTY = "empty"  # write alt="": the link or button around it already has text
REPORT = "report"  # needs alt, but only a person can write it: list it, write nothing
NEEDS_ALT = (FILL, REVIEW, EMPTY, REPORT)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


VOID = _words("area base br col embed hr img input keygen link meta param source track wbr")
RAW_TEXT = _words("script style xmp iframe noembed noframes textarea title plaintext")
GLOBAL_ARIA = _words(
    "aria-atomic aria-braillelabel aria-brailleroledescription aria-busy aria-controls "
    "aria-current aria-describedby aria-description aria-details aria-disabled aria-dropeffect "
    "aria-errormessage aria-flowto aria-grabbed aria-haspopup aria-hidden aria-invalid "
    "aria-keyshortcuts aria-label aria-labelledby aria-live aria-owns aria-relevant "
    "aria-roledescription"
)
INTERACTIVE_ROLES = _words(
    "button checkbox combobox gridcell link menuitem menuitemcheckbox menuitemradio option "
    "radio scrollbar searchbox slider spinbutton switch tab textbox treeitem"
)
CLOSES_P = _words(
    "address article aside blockquote details dialog div dl fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hgroup hr main menu nav ol p pre section table ul"
)
SCOPE = _words("applet button caption html marquee object table td template th")
IMPLIED_CLOSE = {  # a start tag → (the open elements it closes, the ones it stops at)
    "li": (("li",), frozenset({"ul", "ol"})),
    "dt": (("dt", "dd"), frozenset({"dl"})),
    "dd": (("dt", "dd"), frozenset({"dl"})),
    "option": (("option",), frozenset({"select", "datalist"})),
    "a": (("a",), frozenset()),
    "button": (("button",), frozenset()),
}
LAZY_SOURCES = ("data-src", "data-lazy-src", "data-original")
PLACEHOLDER = re.compile(
    r"(?:^|/)(?:blank|spacer|pixel|transparent|placeholder|lazy|loading|1x1|clear|empty)"
    r"[^/]*\.(?:gif|png|svg|webp|jpe?g)(?:[?#].*)?$",
    re.IGNORECASE,
)
WHATWG_LABELS = {  # labels whose WHATWG meaning differs from Python's codec of that name
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "l1": "cp1252",
    "x-user-defined": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "big5": "big5hkscs",
}
PRESCAN_CHARS = 1024

_MARKUP = re.compile(r"<[A-Za-z/!?]")
_LETTER = re.compile(r"[A-Za-z]")
_TAG_NAME_END = re.compile(r"[\t\n\f\r />]")
_BEFORE_ATTR = re.compile(r"[\t\n\f\r /]*")
_ATTR_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r /=>]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_COMMENT_END = re.compile(r"--!?>")
_CONTENT_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s\"';]+)", re.IGNORECASE)
_HTML_SPACE = " \t\n\f\r"


@dataclass
class Attr:
    raw: str  # the value as written, without quotes and undecoded ("" when there is none)
    start: int  # index of the attribute's name
    end: int  # index just after its value


@dataclass
class Tag:
    name: str  # lower-cased
    start: int
    end: int
    attrs: dict[str, Attr]  # lower-cased names; the first of duplicates wins, as in browsers
    last_attr_end: int  # just after the last attribute (or the name): where new ones go
    closing: bool = False
    self_closing: bool = False
    foreign: bool = False  # inside <svg> or <math>


@dataclass
class Text:
    start: int
    end: int


@dataclass
class Page:
    """The page's bytes, the code-unit view the tokenizer reads, and the charset for values."""

    data: bytes
    text: str
    unit: int  # bytes per character of `text`
    encoding: str
    declared: bool  # False when the charset is a guess: new text is then written as ASCII

    def decode(self, raw: str) -> str:
        """An attribute value as written → its text (charset decoded, references expanded)."""
        view = self.encoding if self.unit == 2 else "latin-1"
        return html.unescape(raw.encode(view, "surrogatepass").decode(self.encoding, "replace"))

    def encode(self, text: str) -> bytes:
        """Text → bytes for this page; characters the charset lacks become &#N; references."""
        return text.encode(self.encoding if self.declared else "ascii", "xmlcharrefreplace")


@dataclass
class Image:
    """One element that may need alt text, and what the rules decided for it."""

    line: int
    element: str
    start: int  # byte span of the tag
    end: int
    insert_at: int  # byte offset where new attributes go
    alt_span: tuple[int, int] | None  # byte span of an alt attribute to replace in place
    attributes: frozenset[str]
    sources: list[str]  # candidate pixel URLs, best first
    decision: str
    reason: str

    @property
    def source(self) -> str:
        return self.sources[0] if self.sources else ""


@dataclass
class Scan:
    page: Page
    images: list[Image]
    base: str | None  # <base href>
    links: list[str]  # <a href> and <area href> values, for crawling


@dataclass(eq=False)
class Element:
    tag: Tag
    parent: Element | None
    line: int
    has_text: bool = False
    alt_images: int = 0  # images with alt inside: they name a link as text does
    in_template: bool = False
    title_child: Element | None = None
    sources: list[Tag] = field(default_factory=list)  # <source> children of a <picture>

    def attr(self, page: Page, name: str) -> str | None:
        found = self.tag.attrs.get(name)
        return None if found is None else page.decode(found.raw)

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


# ---------------------------------------------------------------- tokenizer


def tokens(text: str):
    """Start tags, end tags and text runs, as the HTML tokenizer finds them."""
    pos, end, foreign = 0, len(text), 0
    while pos < end:
        found = _MARKUP.search(text, pos)
        if found is None:
            yield Text(pos, end)
            return
        lt = found.start()
        if lt > pos:
            yield Text(pos, lt)
        after = text[lt + 1]
        if after == "!":
            pos = _declaration_end(text, lt, foreign > 0)
            continue
        if after == "?":
            pos = _find_end(text, ">", lt + 2)
            continue
        if after == "/" and not _LETTER.match(text, lt + 2):
            pos = lt + 3 if text.startswith(">", lt + 2) else _find_end(text, ">", lt + 2)
            continue
        tag = _read_tag(text, lt, closing=after == "/", foreign=foreign > 0)
        if tag is None:  # the end came inside the tag: browsers drop it
            return
        yield tag
        pos = tag.end
        if tag.name in ("svg", "math"):
            if tag.closing:
                foreign = max(foreign - 1, 0)
            elif not tag.self_closing:
                foreign += 1
        elif tag.name in RAW_TEXT and not tag.closing and not tag.foreign:
            pos = _raw_text_end(text, pos, tag.name)


def _find_end(text: str, marker: str, start: int) -> int:
    found = text.find(marker, start)
    return len(text) if found < 0 else found + len(marker)


def _declaration_end(text: str, lt: int, foreign: bool) -> int:
    if text.startswith("<!--", lt):
        if text.startswith(">", lt + 4):
            return lt + 5
        if text.startswith("->", lt + 4):
            return lt + 6
        found = _COMMENT_END.search(text, lt + 4)
        return len(text) if found is None else found.end()
    if foreign and text.startswith("<![CDATA[", lt):
        return _find_end(text, "]]>", lt + 9)
    return _find_end(text, ">", lt + 2)


def _raw_text_end(text: str, pos: int, name: str) -> int:
    if name == "plaintext":
        return len(text)
    found = re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE).search(text, pos)
    return len(text) if found is None else found.start()


def _read_tag(text: str, lt: int, closing: bool, foreign: bool) -> Tag | None:
    name_start = lt + 2 if closing else lt + 1
    found = _TAG_NAME_END.search(text, name_start)
    if found is None:
        return None
    pos = found.start()
    tag = Tag(text[name_start:pos].lower(), lt, 0, {}, pos, closing=closing, foreign=foreign)
    while True:
        gap_start = pos
        pos = _BEFORE_ATTR.match(text, pos).end()
        if pos >= len(text):
            return None
        if text[pos] == ">":
            tag.end = pos + 1
            tag.self_closing = pos > gap_start and text[pos - 1] == "/"
            return tag
        pos = _read_attr(text, pos, tag)
        if pos < 0:
            return None


def _read_attr(text: str, start: int, tag: Tag) -> int:
    """Read one attribute into `tag`; return the index after it, or -1 at the end of input."""
    name_end = _ATTR_NAME.match(text, start).end()
    equals = _SPACES.match(text, name_end).end()
    if not text.startswith("=", equals):
        tag.attrs.setdefault(text[start:name_end].lower(), Attr("", start, name_end))
        tag.last_attr_end = name_end
        return name_end
    value = _SPACES.match(text, equals + 1).end()
    if value >= len(text):
        return -1
    quote = text[value]
    if quote in "\"'":
        close = text.find(quote, value + 1)
        if close < 0:
            return -1
        raw, end = text[value + 1 : close], close + 1
    else:
        end = _UNQUOTED.match(text, value).end()
        raw = text[value:end]
    tag.attrs.setdefault(text[start:name_end].lower(), Attr(raw, start, end))
    tag.last_attr_end = end
    return end


# ---------------------------------------------------------------- charset


def codec_for(label: str) -> str | None:
    """A charset label → the Python codec to read it with, or None when unknown."""
    label = label.strip().strip("\"'").lower()
    try:
        info = codecs.lookup(WHATWG_LABELS.get(label, label))
    except LookupError:
        return None
    if not info._is_text_encoding:
        return None
    if info.name.startswith(("utf-16", "utf-32")):  # a page that says so in ASCII is not UTF-16
        return "utf-8"
    return info.name


def page_view(data: bytes, charset: str | None = None) -> Page:
    """How to read `data`: BOM first, then the transport's charset, then <meta>, else a guess."""
    if data.startswith(codecs.BOM_UTF8):
        return Page(data, data.decode("latin-1"), 1, "utf-8", True)
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return Page(data, _code_units(data, encoding), 2, encoding, True)
    text = data.decode("latin-1")
    declared = codec_for(charset) if charset else None
    if declared is None:
        declared = _meta_charset(text[:PRESCAN_CHARS])
    return Page(data, text, 1, declared or "utf-8", declared is not None)


def _code_units(data: bytes, encoding: str) -> str:
    """One character per UTF-16 code unit, so that index × 2 is the byte offset."""
    units = array("H", data[: len(data) // 2 * 2])
    if encoding[-2:] != sys.byteorder[:1] + "e":
        units.byteswap()
    return "".join(map(chr, units))


def _meta_charset(head: str) -> str | None:
    for token in tokens(head):
        if isinstance(token, Tag) and token.name == "meta" and not token.closing:
            codec = codec_for(_meta_label(token) or "")
            if codec:
                return codec
    return None


def _meta_label(tag: Tag) -> str | None:
    # Labels are ASCII, so the raw view is good enough to read them.
    if "charset" in tag.attrs:
        return tag.attrs["charset"].raw
    equiv = tag.attrs.get("http-equiv")
    content = tag.attrs.get("content")
    if equiv and content and equiv.raw.strip().lower() == "content-type":
        found = _CONTENT_CHARSET.search(content.raw)
        return found.group(1) if found else None
    return None


# ---------------------------------------------------------------- tree


def build_tree(text: str) -> list[Element]:
    """Every start tag as an Element with its parent, roughly as a browser would nest them."""
    elements: list[Element] = []
    stack: list[Element] = []
    line, counted = 1, 0
    for token in tokens(text):
        if isinstance(token, Text):
            if stack and not stack[-1].has_text and text[token.start : token.end].strip(_HTML_SPACE):
                stack[-1].has_text = True
            continue
        if token.closing:
            _close(stack, token.name)
            continue
        line += text.count("\n", counted, token.start)
        counted = token.start
        _close_implied(stack, token.name)
        parent = stack[-1] if stack else None
        element = Element(token, parent, line)
        element.in_template = parent is not None and (parent.in_template or parent.tag.name == "template")
        _link_to_parent(element, parent)
        elements.append(element)
        if token.name not in VOID and not (token.self_closing and token.foreign):
            stack.append(element)
    while stack:
        _pop(stack)
    return elements


def _link_to_parent(element: Element, parent: Element | None) -> None:
    if parent is None:
        return
    name = element.tag.name
    if name == "title" and parent.title_child is None:
        parent.title_child = element
    elif name == "source" and parent.tag.name == "picture":
        parent.sources.append(element.tag)
    elif name == "img" and _blank(element.tag.attrs.get("alt")) is False:
        parent.alt_images += 1


def _blank(attr: Attr | None) -> bool | None:
    """None: no such attribute; True: empty or only whitespace; False: has content."""
    if attr is None:
        return None
    return not attr.raw.strip(_HTML_SPACE)


def _pop(stack: list[Element]) -> None:
    element = stack.pop()
    if element.parent is not None:
        element.parent.has_text |= element.has_text
        element.parent.alt_images += element.alt_images


def _close(stack: list[Element], name: str) -> None:
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth].tag.name == name:
            while len(stack) > depth:
                _pop(stack)
            return


def _close_implied(stack: list[Element], name: str) -> None:
    """Close what a browser closes when `name` starts: an open <p>, <li>, <a>, <option>…"""
    closes = IMPLIED_CLOSE.get(name)
    if closes is None and name in CLOSES_P:
        closes = (("p",), frozenset())
    if closes is None:
        return
    targets, stops = closes[0], closes[1] | SCOPE
    for depth in range(len(stack) - 1, -1, -1):
        open_name = stack[depth].tag.name
        if open_name in targets:
            while len(stack) > depth:
                _pop(stack)
            return
        if open_name in stops:
            return


# ---------------------------------------------------------------- the rules


def scan(data: bytes, charset: str | None = None, overwrite: bool = False, fill_titled: bool = False) -> Scan:
    """Find every image on the page and decide, by the alt-text rules, what it needs."""
    page = page_view(data, charset)
    elements = [e for e in build_tree(page.text) if not e.in_template]
    rules = Rules(page, elements, overwrite, fill_titled)
    images = [image for e in elements if (image := rules.image(e)) is not None]
    base = next((b for e in elements if e.tag.name == "base" and (b := e.attr(page, "href"))), None)
    links = [e.attr(page, "href") for e in elements if e.tag.name in ("a", "area") and "href" in e.tag.attrs]
    return Scan(page, images, base, links)


class Rules:
    """The alt-text rules, applied to the elements of one page."""

    def __init__(self, page: Page, elements: list[Element], overwrite: bool, fill_titled: bool):
        self.page = page
        self.overwrite = overwrite
        self.fill_titled = fill_titled
        self.ids: dict[str, Element] = {}
        self.labels: dict[str, list[Element]] = {}
        for element in elements:
            element_id = element.attr(page, "id")
            if element_id:
                self.ids.setdefault(element_id, element)
            if element.tag.name == "label" and "for" in element.tag.attrs:
                self.labels.setdefault(element.attr(page, "for"), []).append(element)

    def image(self, element: Element) -> Image | None:
        name = element.tag.name
        role = self.role(element)
        if name == "img" or (name == "input" and self.value(element, "type") == "image"):
            decision, reason = self.img_decision(element, role)
        elif name == "area" and "href" in element.tag.attrs:
            decision, reason = self.area_decision(element)
        elif role == "img":
            decision, reason = self.role_img_decision(element)
        else:
            return None
        return self.located(element, decision, reason)

    def located(self, element: Element, decision: str, reason: str) -> Image:
        tag, unit = element.tag, self.page.unit
        alt = tag.attrs.get("alt")
        replace = alt is not None and decision in (FILL, REVIEW, EMPTY)
        return Image(
            line=element.line,
            element=tag.name,
            start=tag.start * unit,
            end=tag.end * unit,
            insert_at=tag.last_attr_end * unit,
            alt_span=(alt.start * unit, alt.end * unit) if replace else None,
            attributes=frozenset(tag.attrs),
            sources=self.sources(element),
            decision=decision,
            reason=reason,
        )

    def value(self, element: Element, name: str) -> str | None:
        value = element.attr(self.page, name)
        return None if value is None else value.strip(_HTML_SPACE).lower()

    def role(self, element: Element) -> str | None:
        role = self.value(element, "role")
        return role.split()[0] if role else None

    # -- decisions

    def img_decision(self, element: Element, role: str | None) -> tuple[str, str]:
        is_input = element.tag.name == "input"
        notes = []
        alt = element.attr(self.page, "alt")
        if self.hidden(element):
            return KEEP, "hidden from assistive technology"
        if alt == "" and not is_input:
            return KEEP, 'alt="" marks it decorative'
        if alt is not None and alt.strip():
            if not self.overwrite:
                return KEEP, "has alt text"
            notes.append("alt replaced (--overwrite)")
        elif alt:
            notes.append("alt was only whitespace")
        elif is_input and alt == "":
            notes.append('alt="" on an image button')
        if not is_input and role in ("presentation", "none") and not self.exposed(element):
            return KEEP, f"role={role} marks it decorative"
        named = self.named(element)
        if named:
            return KEEP, named
        title = element.attr(self.page, "title")
        if title and title.strip():
            if not self.fill_titled:
                return REPORT, "has only a title, which is advisory (--fill-titled fills it)"
            notes.append("had only a title")
        return self.context_decision(element, role, notes)

    def context_decision(self, element: Element, role: str | None, notes: list[str]):
        control = self.control(element)
        worded = control is not None and self.has_words(control, but=element)
        return context_decision(element.tag.name, role, control.tag.name if control else None, worded, notes)

    def area_decision(self, element: Element) -> tuple[str, str]:
        if self.hidden(element) or _blank(element.tag.attrs.get("alt")) is False:
            return KEEP, "has alt text"
        if self.named(element):
            return KEEP, self.named(element)
        return REPORT, "<area href> without alt: a person must say where it links"

    def role_img_decision(self, element: Element) -> tuple[str, str]:
        if self.hidden(element):
            return KEEP, "hidden from assistive technology"
        named = self.named(element)
        if named or _blank(element.tag.attrs.get("title")) is False:
            return KEEP, named or "has a title"
        title_child = element.title_child
        if element.tag.name == "svg" and title_child is not None and title_child.has_text:
            return KEEP, "has a <title>"
        return REPORT, f"role=img on <{element.tag.name}> without a name: needs aria-label"

    # -- facts about an element

    def hidden(self, element: Element) -> bool:
        return any(
            "hidden" in node.tag.attrs or self.value(node, "aria-hidden") == "true"
            for node in (element, *element.ancestors())
        )

    def exposed(self, element: Element) -> bool:
        """Focusable or carrying global ARIA: a browser then ignores role=presentation."""
        attrs = element.tag.attrs
        return "tabindex" in attrs or any(name in GLOBAL_ARIA for name in attrs)

    def named(self, element: Element) -> str | None:
        """Why the element already has an accessible name, or None."""
        if _blank(element.tag.attrs.get("aria-label")) is False:
            return "has aria-label"
        for target in (element.attr(self.page, "aria-labelledby") or "").split():
            labelled = self.ids.get(target)
            if labelled is not None and self.has_words(labelled):
                return "has aria-labelledby"
        if element.tag.name == "input" and self.labelled(element):
            return "has a <label>"
        return None

    def has_words(self, element: Element, but: Element | None = None) -> bool:
        """Text, an image with alt (other than `but`) or an aria-label: what names a link."""
        own_alt = but is not None and _blank(but.tag.attrs.get("alt")) is False
        return element.has_text or element.alt_images > own_alt or _blank(element.tag.attrs.get("aria-label")) is False

    def labelled(self, element: Element) -> bool:
        around = any(node.tag.name == "label" and node.has_text for node in element.ancestors())
        element_id = element.attr(self.page, "id")
        pointing = self.labels.get(element_id, []) if element_id else []
        return around or any(label.has_text for label in pointing)

    def control(self, element: Element) -> Element | None:
        """The nearest link or button the image sits in."""
        for node in element.ancestors():
            name, role = node.tag.name, self.role(node)
            if (name == "a" and "href" in node.tag.attrs) or name == "button":
                return node
            if role in ("link", "button"):
                return node
        return None

    # -- where the pixels are

    def sources(self, element: Element) -> list[str]:
        if element.tag.name == "input":
            src = element.attr(self.page, "src")
            return [src.strip()] if src and src.strip() else []
        if element.tag.name != "img":
            return []
        src = (element.attr(self.page, "src") or "").strip()
        found = [element.attr(self.page, name) for name in LAZY_SOURCES]
        for tag in (element.tag, *self.picture_sources(element)):
            for name in ("data-srcset", "srcset"):
                attr = tag.attrs.get(name)
                found.append(largest_candidate(self.page.decode(attr.raw)) if attr else None)
        found = [s.strip() for s in found if s and s.strip()]
        placeholder = not src or src[:5].lower() == "data:" or PLACEHOLDER.search(src)
        ordered = (found + [src]) if placeholder else [src, *found]
        return list(dict.fromkeys(s for s in ordered if s))

    def picture_sources(self, element: Element) -> list[Tag]:
        parent = element.parent
        return parent.sources if parent is not None and parent.tag.name == "picture" else []


def context_decision(element: str, role: str | None, control: str | None, control_has_words: bool,
                     notes: list[str]) -> tuple[str, str]:
    """FILL, REVIEW or EMPTY, and why, for an image that needs alt, from where it sits: `element` ("img" or
    "input"), its own `role`, the tag name of the link or button around it (None: none) and whether that
    already has words. `serve` decides with it from the facts the browser extension finds in a live page."""
    if element == "input":
        return REVIEW, _join(notes, "image button: alt must say what it does")
    if role in INTERACTIVE_ROLES:
        return REVIEW, _join(notes, f"role={role}: alt must say what it does")
    if control is None:
        return FILL, "; ".join(notes) or "missing alt"
    if control_has_words:
        return EMPTY, _join(notes, f'its <{control}> already has text: alt=""')
    return REVIEW, _join(notes, f"only content of its <{control}>: alt must say its purpose")


def _join(notes: list[str], reason: str) -> str:
    return "; ".join([*notes, reason])


def largest_candidate(srcset: str) -> str | None:
    """The URL of the widest (or densest) candidate of a srcset."""
    best, best_size = None, -1.0
    for url, descriptor in _srcset_candidates(srcset):
        size = _candidate_size(descriptor)
        if size > best_size:
            best, best_size = url, size
    return best


def _srcset_candidates(srcset: str):
    pos, end = 0, len(srcset)
    while pos < end:
        while pos < end and (srcset[pos] in _HTML_SPACE or srcset[pos] == ","):
            pos += 1
        url_end = pos
        while url_end < end and srcset[url_end] not in _HTML_SPACE:
            url_end += 1
        url = srcset[pos:url_end]
        stripped = url.rstrip(",")
        if stripped != url:  # "a.jpg," has no descriptors
            pos = url_end
            if stripped:
                yield stripped, ""
            continue
        depth, desc_end = 0, url_end
        while desc_end < end and (srcset[desc_end] != "," or depth):
            depth += {"(": 1, ")": -1}.get(srcset[desc_end], 0)
            desc_end += 1
        if url:
            yield url, srcset[url_end:desc_end].strip()
        pos = desc_end + 1


def _candidate_size(descriptor: str) -> float:
    # A width descriptor ranks above any density: it is the size of the file itself.
    for part in descriptor.split():
        try:
            if part.endswith("w"):
                return 1e6 + float(part[:-1])
            if part.endswith("x"):
                return float(part[:-1])
        except ValueError:
            continue
    return 1.0
