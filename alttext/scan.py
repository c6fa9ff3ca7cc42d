"""Page bytes → the images on it that need alt text, with byte offsets into the original bytes.

The page is parsed by a spec-conforming HTML5 parser (justhtml), so the elements found are the ones a
browser builds: raw text, script escapes, foreign content, foster parenting and `<image>` included.
It parses a view of the bytes in which each character stands for one code unit (one byte, or two for
UTF-16), so every offset it reports is a byte offset and bytes that are invalid in the page's charset
cannot get lost: markup delimiters are ASCII, and in every ASCII-compatible charset an ASCII byte is
that character. The parser says where each start tag begins; where its attributes are is read from
there by the tokenizer's tag rules, which is all a splice needs.
"""

from __future__ import annotations

import codecs
import html
import re
import sys
from array import array
from bisect import bisect_right
from dataclasses import dataclass

import webencodings
from html5lib._inputstream import EncodingParser
from justhtml import Element as ParsedElement
from justhtml import Text as ParsedText
from justhtml.parser.engine import ParseEngine, compile_raw_engine_plan

from alttext import suspicious

# Decisions: what the rules say to do with one image.
KEEP = "keep"  # never touch: it has alt, is decorative, hidden or named
FILL = "fill"  # write a caption
REVIEW = "review"  # write a caption and flag it for a person
EMPTY = "empty"  # write alt="": the link or button around it already has text
REPORT = "report"  # needs alt, but only a person can write it: list it, write nothing
NEEDS_ALT = (FILL, REVIEW, EMPTY, REPORT)

# Where an image sits, for reusing a person's alt written for the same picture elsewhere, and for check.
PLAIN = "plain"
BESIDE_TEXT = "in a link or button with text"
ALONE = "the only content of a link or button"  # and nothing else names it (aria-label(ledby), title)

HAS_ALT = "has alt text"  # the reasons for a person's alt, which reuse reads
DECORATIVE = 'alt="" marks it decorative'
SUSPICIOUS = "suspicious"  # the `overwrite` that replaces only a person's alt that says nothing
GENERATED = "data-alt-generated"  # fill's default marker: alt written by alttext, not by a person
REDUNDANT_PARENTS = ("a", "button", "p", "li", "td", "th")  # where axe's image-redundant-alt looks


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


HTML_NS = "html"
NOT_RENDERED = _words(  # display: none in every browser's style sheet: no part of an accessible name
    "area base basefont datalist head link meta noembed noframes noscript param rp script style template title"
)
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
LAZY_SOURCES = ("data-src", "data-lazy-src", "data-original")
PLACEHOLDER = re.compile(
    r"(?:^|/)(?:blank|spacer|pixel|transparent|placeholder|lazy|loading|1x1|clear|empty)"
    r"[^/]*\.(?:gif|png|svg|webp|jpe?g)(?:[?#].*)?$",
    re.IGNORECASE,
)
PRESCAN_BYTES = 1024
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16le"), (codecs.BOM_UTF16_BE, "utf-16be"))
UTF16 = ("utf-16le", "utf-16be")
FALLBACK = "windows-1252"  # the standard's default for pages that declare nothing (and are not UTF-8)

_TAG_NAME_END = re.compile(r"[\t\n\f\r />]")
_BEFORE_ATTR = re.compile(r"[\t\n\f\r /]*")
_ATTR_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r /=>]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_HTML_SPACE = " \t\n\f\r"


class PageError(Exception):
    """A page alttext cannot edit safely; the message says why."""


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


@dataclass
class Page:
    """The page's bytes, the code-unit view the parser reads, and the charset for values."""

    data: bytes
    text: str
    unit: int  # bytes per character of `text`
    encoding: webencodings.Encoding
    declared: bool  # False when the charset is a guess: new text is then written as ASCII
    skip: int = 0  # characters of a byte-order mark at the start, which the parser does not see
    newlines: list[int] | None = None  # where each line ends, once a line number is asked for

    def decode(self, raw: str) -> str:
        """An attribute value as written → its text (charset decoded, references expanded)."""
        if self.unit == 2:  # the view's characters are UTF-16 code units: pair the surrogates
            text = raw.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        else:
            text = self.encoding.codec_info.decode(raw.encode("latin-1"), "replace")[0]
        return html.unescape(text)

    def encode(self, text: str) -> bytes:
        """Text → bytes for this page; characters the charset lacks become &#N; references."""
        if not self.declared:
            return text.encode("ascii", "xmlcharrefreplace")
        return self.encoding.codec_info.encode(text, "xmlcharrefreplace")[0]


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
    alt: str | None = None  # the alt as written, decoded (None: no alt attribute)
    generated: str | None = None  # the value of fill's marker, when it has one
    context: str = PLAIN
    nearby_text: str = ""  # the text of the link, button, paragraph or cell around it (axe's "adjacent")
    figcaption: str = ""  # the caption of the <figure> it is in
    link: str = ""  # for an image that needs alt: the href of the link it is in
    title: str = ""  # for an image that needs alt: its title attribute
    lang: str | None = None  # the page's language at the image: the nearest lang attribute (None: not said)

    @property
    def source(self) -> str:
        return self.sources[0] if self.sources else ""


@dataclass
class Scan:
    page: Page
    images: list[Image]
    base: str | None  # <base href>
    links: list[str]  # <a href> and <area href> values, for crawling


class Element:
    """An element of the parsed tree, with what the rules need to know about it."""

    __slots__ = ("node", "name", "attrs", "html", "parent", "page", "text", "any_text", "alt_images",
                 "title_child", "sources", "_tag")

    def __init__(self, node: ParsedElement, parent: Element | None, page: Page):
        self.node = node
        self.name: str = node.name
        self.attrs: dict[str, str | None] = node.attrs
        self.html = node.namespace == HTML_NS
        self.parent = parent
        self.page = page
        self.text = False  # rendered, unhidden text inside: what names a link
        self.any_text = False  # text inside, hidden or not: what an aria-labelledby reference reads
        self.alt_images = 0  # unhidden images with alt inside: they name a link as text does
        self.title_child: Element | None = None
        self.sources: list[Element] = []  # <source> children of a <picture>
        self._tag: Tag | None = None

    @property
    def tag(self) -> Tag | None:
        """The start tag as written (None for elements the parser made up, such as an implied <body>)."""
        if self._tag is None and self.node.origin_offset is not None:
            self._tag = read_tag(self.page.text, self.node.origin_offset + self.page.skip)
        return self._tag

    def attr(self, name: str) -> str | None:
        """An attribute's value, decoded in the page's charset (None when absent)."""
        if name not in self.attrs:
            return None
        tag = self.tag
        found = tag.attrs.get(name) if tag is not None else None
        return None if found is None else self.page.decode(found.raw)

    def value(self, name: str) -> str | None:
        """An attribute's value for comparing with ASCII keywords: trimmed and lower-cased."""
        value = self.attrs.get(name)
        return None if value is None else value.strip(_HTML_SPACE).lower()

    def blank(self, name: str) -> bool | None:
        """None: no such attribute; True: empty or only whitespace; False: has content."""
        if name not in self.attrs:
            return None
        return not (self.attrs[name] or "").strip(_HTML_SPACE)

    def hidden_here(self) -> bool:
        return "hidden" in self.attrs or ("aria-hidden" in self.attrs and self.value("aria-hidden") == "true")

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


# ---------------------------------------------------------------- one start tag


def read_tag(text: str, lt: int) -> Tag | None:
    """The start tag at `lt`, read by the tokenizer's tag-open rules: its attributes and their spans."""
    found = _TAG_NAME_END.search(text, lt + 1)
    if found is None:
        return None
    pos = found.start()
    tag = Tag(text[lt + 1 : pos].lower(), lt, 0, {}, pos)
    while True:
        pos = _BEFORE_ATTR.match(text, pos).end()
        if pos >= len(text):
            return None
        if text[pos] == ">":
            tag.end = pos + 1
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


def encoding_for(label: str | None) -> webencodings.Encoding | None:
    """A charset label → its WHATWG encoding, or None when browsers do not know the label."""
    return webencodings.lookup(label) if label else None


def page_view(data: bytes, charset: str | None = None) -> Page:
    """How to read `data`, as the standard's encoding sniffing does: the BOM, then the transport's
    charset, then a <meta> in the first 1024 bytes; else UTF-8 when the bytes are valid UTF-8 (the
    autodetection the standard allows, as Chromium does), else windows-1252."""
    for bom, name in BOMS:
        if data.startswith(bom):
            page = _view(data, webencodings.lookup(name), True)
            page.skip = len(bom) // page.unit
            return page
    declared = encoding_for(charset) or _prescan(data[:PRESCAN_BYTES])
    if declared is not None:
        return _view(data, declared, True)
    try:
        data.decode("utf-8")
        guess = "utf-8"
    except UnicodeDecodeError:
        guess = FALLBACK
    return _view(data, webencodings.lookup(guess), False)


def _prescan(head: bytes) -> webencodings.Encoding | None:
    found = EncodingParser(head).getEncoding()
    return None if found is None else _meta_encoding(found)


def _meta_encoding(found: webencodings.Encoding) -> webencodings.Encoding:
    """A charset a <meta> names, as the standard corrects it: a page that says UTF-16 in ASCII is not."""
    if found.name in UTF16:
        return webencodings.lookup("utf-8")
    if found.name == "x-user-defined":
        return webencodings.lookup(FALLBACK)
    return found


def _view(data: bytes, encoding: webencodings.Encoding, declared: bool) -> Page:
    if encoding.name in UTF16:
        return Page(data, _code_units(data, encoding.name), 2, encoding, declared)
    if encoding.name in ("iso-2022-jp", "replacement"):
        raise PageError(f"its charset is {encoding.name}, whose bytes alttext cannot edit in place")
    return Page(data, data.decode("latin-1"), 1, encoding, declared)


def _code_units(data: bytes, name: str) -> str:
    """One character per UTF-16 code unit, so that index × 2 is the byte offset."""
    units = array("H", data[: len(data) // 2 * 2])
    if name[-2:] != sys.byteorder[:1] + "e":
        units.byteswap()
    return "".join(map(chr, units))


def _tree_charset(page: Page, elements: list[Element]) -> Page:
    """A page that declared nothing in its first 1024 bytes but does later: browsers then reparse
    with the charset of the first <meta> that names a known one."""
    for element in elements:
        if element.name == "meta" and element.html:
            found = encoding_for(_meta_label(element))
            if found is not None:
                return _view(page.data, _meta_encoding(found), True)  # no BOM, or it would have decided
    return page


def _meta_label(element: Element) -> str | None:
    attrs = element.attrs
    if attrs.get("charset") is not None:
        return attrs["charset"]
    if (attrs.get("http-equiv") or "").lower() == "content-type" and attrs.get("content"):
        return content_charset(attrs["content"])
    return None


def content_charset(content: str) -> str | None:
    """The standard's "extracting a character encoding from a meta element" from a content value."""
    lower, pos = content.lower(), 0
    while (found := lower.find("charset", pos)) >= 0:
        pos = _SPACES.match(content, found + 7).end()
        if not content.startswith("=", pos):
            continue
        pos = _SPACES.match(content, pos + 1).end()
        if content[pos : pos + 1] in ("'", '"'):
            close = content.find(content[pos], pos + 1)
            return content[pos + 1 : close] if close > 0 else None
        return re.match(r"[^\t\n\f\r ;]*", content[pos:]).group() or None
    return None


# ---------------------------------------------------------------- tree


def parse(text: str) -> ParsedElement:
    """The document a browser (scripting on) builds from `text`, each element with its start tag's offset.

    JustHTML(track_node_locations=True) would also turn a stray <!doctype> or an unclosed comment into
    text, which browsers do not; its engine with locations but no tag spans builds the standard's tree.
    """
    plan = compile_raw_engine_plan(fragment=False, scripting_enabled=True)
    return ParseEngine(text, fragment=False, plan=plan, track_node_locations=True).parse()


def build_tree(page: Page) -> list[Element]:
    """Every element of the document as a browser builds it (template contents are inert, so not
    included), in tree order, with what names each: rendered text, images with alt."""
    document = parse(page.text[page.skip :])
    elements: list[Element] = []
    stack: list[tuple[ParsedElement | ParsedText, Element | None]] = [(c, None) for c in reversed(document.children)]
    while stack:
        node, parent = stack.pop()
        if type(node) is ParsedText:
            if parent is not None and node.data.strip(_HTML_SPACE):
                parent.text = parent.any_text = True
            continue
        if not isinstance(node, ParsedElement):  # comments, the doctype
            continue
        element = Element(node, parent, page)
        elements.append(element)
        _link_to_parent(element, parent)
        stack.extend((child, element) for child in reversed(node.children))
    for element in reversed(elements):
        _pass_up(element)
    return elements


def _link_to_parent(element: Element, parent: Element | None) -> None:
    if parent is None:
        return
    name = element.name
    if name == "title" and parent.title_child is None:
        parent.title_child = element
    elif name == "source" and parent.name == "picture" and element.html:
        parent.sources.append(element)
    elif name == "img" and element.html and element.blank("alt") is False and not element.hidden_here():
        parent.alt_images += 1


def _pass_up(element: Element) -> None:
    """Children come after their parent in tree order: walking backwards, each passes its facts up."""
    parent = element.parent
    if parent is None:
        return
    parent.any_text |= element.any_text
    if element.hidden_here() or (element.html and element.name in NOT_RENDERED):
        return
    parent.text |= element.text
    parent.alt_images += element.alt_images


# ---------------------------------------------------------------- the rules


def scan(data: bytes, charset: str | None = None, overwrite: bool | str = False, fill_titled: bool = False) -> Scan:
    """Find every image on the page and decide, by the alt-text rules, what it needs."""
    page = page_view(data, charset)
    elements = build_tree(page)
    if not page.declared:
        page = _tree_charset(page, elements)
        for element in elements:
            element.page = page
    rules = Rules(elements, overwrite, fill_titled)
    images = [image for e in elements if (image := rules.image(e)) is not None]
    html_elements = [e for e in elements if e.html]
    base = next((e.attr("href") for e in html_elements if e.name == "base" and "href" in e.attrs), None)
    links = [e.attr("href") for e in html_elements if e.name in ("a", "area") and "href" in e.attrs]
    return Scan(page, images, base, [link for link in links if link is not None])


class Rules:
    """The alt-text rules, applied to the elements of one page."""

    def __init__(self, elements: list[Element], overwrite: bool | str, fill_titled: bool):
        self.overwrite = overwrite
        self.fill_titled = fill_titled
        self.ids: dict[str, Element] = {}
        self.labels: dict[str, list[Element]] = {}
        for element in elements:
            element_id = element.attrs.get("id")
            if element_id:
                self.ids.setdefault(element_id, element)
            if element.name == "label" and element.attrs.get("for") is not None:
                self.labels.setdefault(element.attrs["for"], []).append(element)

    def image(self, element: Element) -> Image | None:
        name = element.name if element.html else None
        role = self.role(element)
        if name == "img" or (name == "input" and element.value("type") == "image"):
            decision, reason = self.img_decision(element, role)
        elif name == "area" and "href" in element.attrs:
            decision, reason = self.area_decision(element)
        elif role == "img":
            decision, reason = self.role_img_decision(element)
        else:
            return None
        return self.located(element, decision, reason)

    def located(self, element: Element, decision: str, reason: str) -> Image | None:
        tag, unit = element.tag, element.page.unit
        if tag is None:  # made by the parser, not written in the page: nowhere to write
            return None
        alt = tag.attrs.get("alt")
        replace = alt is not None and decision in (FILL, REVIEW, EMPTY)
        alt_text = element.attr("alt")
        worded = decision in NEEDS_ALT or bool(alt_text and alt_text.strip())  # may repeat the text beside it
        return Image(
            line=_line(element.page, tag.start),
            element=element.name,
            start=tag.start * unit,
            end=tag.end * unit,
            insert_at=tag.last_attr_end * unit,
            alt_span=(alt.start * unit, alt.end * unit) if replace else None,
            attributes=frozenset(tag.attrs),
            sources=self.sources(element),
            decision=decision,
            reason=reason,
            alt=alt_text,
            generated=element.attr(GENERATED),
            context=self.context(element),
            nearby_text=nearby_text(element) if worded else "",
            figcaption=figure_caption(element) if worded else "",
            link=self.link(element) if decision in NEEDS_ALT else "",
            title=(element.attr("title") or "").strip() if decision in NEEDS_ALT else "",
            lang=language_at(element),
        )

    def context(self, element: Element) -> str:
        control = self.control(element)
        if control is None:
            return PLAIN
        named = self.has_words(control, but=element) or self.named(control) or control.blank("title") is False
        return BESIDE_TEXT if named else ALONE

    def link(self, element: Element) -> str:
        control = self.control(element)
        is_link = control is not None and control.html and control.name == "a"
        return (control.attr("href") or "").strip(_HTML_SPACE) if is_link else ""

    def role(self, element: Element) -> str | None:
        role = element.value("role")
        return role.split()[0] if role else None

    # -- decisions

    def img_decision(self, element: Element, role: str | None) -> tuple[str, str]:
        is_input = element.name == "input"
        notes = []
        alt = element.attr("alt")
        if self.hidden(element):
            return KEEP, "hidden from assistive technology"
        if alt == "" and not is_input:
            return KEEP, DECORATIVE
        if alt is not None and alt.strip():
            replaced = self.replaced(alt, element)
            if replaced is None:
                return KEEP, HAS_ALT
            notes.append(replaced)
        elif alt:
            notes.append("alt was only whitespace")
        elif is_input and alt == "":
            notes.append('alt="" on an image button')
        if not is_input and role in ("presentation", "none") and not self.exposed(element):
            return KEEP, f"role={role} marks it decorative"
        named = self.named(element)
        if named:
            return KEEP, named
        title = element.attr("title")
        if title and title.strip():
            if not self.fill_titled:
                return REPORT, "has only a title, which is advisory (--fill-titled fills it)"
            notes.append("had only a title")
        return self.context_decision(element, role, notes)

    def replaced(self, alt: str, element: Element) -> str | None:
        """Why --overwrite replaces a person's alt, or None when it stays."""
        if self.overwrite is True:
            return "alt replaced (--overwrite)"
        said = [c for c in suspicious.codes(alt) if c in suspicious.REPLACEABLE] if self.overwrite == SUSPICIOUS else []
        return f"suspicious alt replaced ({', '.join(said)}: {alt.strip()!r})" if said else None

    def context_decision(self, element: Element, role: str | None, notes: list[str]):
        control = self.control(element)
        worded = control is not None and self.has_words(control, but=element)
        return context_decision(element.name, role, control.name if control else None, worded, notes)

    def area_decision(self, element: Element) -> tuple[str, str]:
        if self.hidden(element) or element.blank("alt") is False:
            return KEEP, "has alt text"
        if self.named(element):
            return KEEP, self.named(element)
        return REPORT, "<area href> without alt: a person must say where it links"

    def role_img_decision(self, element: Element) -> tuple[str, str]:
        if self.hidden(element):
            return KEEP, "hidden from assistive technology"
        named = self.named(element)
        if named or element.blank("title") is False:
            return KEEP, named or "has a title"
        title_child = element.title_child
        if element.name == "svg" and title_child is not None and title_child.any_text:
            return KEEP, "has a <title>"
        return REPORT, f"role=img on <{element.name}> without a name: needs aria-label"

    # -- facts about an element

    def hidden(self, element: Element) -> bool:
        return any(node.hidden_here() for node in (element, *element.ancestors()))

    def exposed(self, element: Element) -> bool:
        """Focusable or carrying global ARIA: a browser then ignores role=presentation."""
        attrs = element.attrs
        return "tabindex" in attrs or any(name in GLOBAL_ARIA for name in attrs)

    def named(self, element: Element) -> str | None:
        """Why the element already has an accessible name, or None."""
        if element.blank("aria-label") is False:
            return "has aria-label"
        for target in (element.attrs.get("aria-labelledby") or "").split():
            labelled = self.ids.get(target)
            if labelled is not None and (labelled.any_text or self.has_words(labelled)):
                return "has aria-labelledby"
        if element.name == "input" and self.labelled(element):
            return "has a <label>"
        return None

    def has_words(self, element: Element, but: Element | None = None) -> bool:
        """Rendered text, an image with alt (other than `but`) or an aria-label: what names a link."""
        own_alt = but is not None and but.blank("alt") is False and not but.hidden_here()
        return element.text or element.alt_images > own_alt or element.blank("aria-label") is False

    def labelled(self, element: Element) -> bool:
        around = any(node.name == "label" and node.text for node in element.ancestors())
        element_id = element.attrs.get("id")
        pointing = self.labels.get(element_id, []) if element_id else []
        return around or any(label.text for label in pointing)

    def control(self, element: Element) -> Element | None:
        """The nearest link or button the image sits in."""
        for node in element.ancestors():
            name, role = node.name if node.html else None, self.role(node)
            if (name == "a" and "href" in node.attrs) or name == "button":
                return node
            if role in ("link", "button"):
                return node
        return None

    # -- where the pixels are

    def sources(self, element: Element) -> list[str]:
        if element.name == "input":
            src = element.attr("src")
            return [src.strip()] if src and src.strip() else []
        if element.name != "img":
            return []
        src = (element.attr("src") or "").strip()
        found = [element.attr(name) for name in LAZY_SOURCES]
        for candidate in (element, *self.picture_sources(element)):
            for name in ("data-srcset", "srcset"):
                srcset = candidate.attr(name)
                found.append(largest_candidate(srcset) if srcset is not None else None)
        found = [s.strip() for s in found if s and s.strip()]
        placeholder = not src or src[:5].lower() == "data:" or PLACEHOLDER.search(src)
        ordered = (found + [src]) if placeholder else [src, *found]
        return list(dict.fromkeys(s for s in ordered if s))

    def picture_sources(self, element: Element) -> list[Element]:
        parent = element.parent
        return parent.sources if parent is not None and parent.name == "picture" else []


def language_at(element: Element) -> str | None:
    """The language an element is in: its own or its nearest ancestor's `lang` (HTML elements only);
    None where none says, or where the nearest says lang="" (unknown)."""
    for node in (element, *element.ancestors()):
        if node.html and "lang" in node.attrs:
            return (node.attr("lang") or "").strip(_HTML_SPACE) or None
    return None


def nearby_text(element: Element) -> str:
    """The rendered text of the nearest link, button, paragraph, list item or table cell around the element:
    where axe's image-redundant-alt looks."""
    for node in element.ancestors():
        if node.html and (node.name in REDUNDANT_PARENTS or node.value("role") == "button") \
                and (node.name != "a" or "href" in node.attrs):
            return node.node.to_text()
    return ""


def figure_caption(element: Element) -> str:
    """The text of the <figcaption> of the nearest <figure> around the element ("" when none)."""
    figure = next((node for node in element.ancestors() if node.html and node.name == "figure"), None)
    if figure is None:
        return ""
    captions = [child for child in figure.node.children if getattr(child, "name", None) == "figcaption"]
    return captions[0].to_text() if captions else ""


def _line(page: Page, index: int) -> int:
    """The line number of a character of the view (lines end at LF, so CRLF counts once)."""
    if page.newlines is None:
        page.newlines = [m.start() for m in re.finditer("\n", page.text)]
    return bisect_right(page.newlines, index) + 1


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
