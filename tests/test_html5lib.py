"""scan and splice against the HTML standard's shared parser tests (html5lib-tests, ALTTEXT_HTML5LIB_TESTS).

Every tree-construction and tokenizer input is a page, alone and with `<img>` variants put in front of
each tag and at the end. For each page:
- the tree a browser builds is known: the test's expected #document for a tree-construction input
  (checked here to be what justhtml builds), else justhtml's tree of the decoded page;
- the images scan finds must be that tree's <img> elements (outside template contents), in order,
  with the same attribute names;
- after every image fill would write is given alt text, the page's tree must be the old tree with those
  attributes added to exactly those elements: nothing written into text, comments, raw text or
  foreign content.
Encoding tests: the charset scan settles on is the expected one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from justhtml import JustHTML
from justhtml.parser.context import FragmentContext
from justhtml.serializer import to_test_format

from alttext.scan import EMPTY, FILL, REVIEW, PageError, parse, scan
from alttext.splice import MARKER, alt_edit, apply

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("<img src=v{}.png>", "<IMG\nSRC='v{}.png'/>", "<image src=v{}.png>")
MAX_VARIANTS = 6  # image positions tried per input, spread over its tags
RAW_STATES = {  # a tokenizer test's initial state → the start tag that puts a page's tokenizer in it
    "Data state": "",
    "PLAINTEXT state": "<plaintext>",
    "RCDATA state": "<title>",
    "RAWTEXT state": "<style>",
    "Script data state": "<script>",
    "CDATA section state": "<svg><![CDATA[",
}


def corpus() -> Path:
    value = os.environ.get("ALTTEXT_HTML5LIB_TESTS") or str(ROOT.parent / "shared" / "data" / "html5lib-tests")
    path = Path(value)
    if not (path / "tree-construction").is_dir():
        pytest.skip("html5lib-tests not found: set ALTTEXT_HTML5LIB_TESTS to the html5lib-tests directory")
    return path


@dataclass
class Case:
    data: str
    document: str | None = None  # the expected tree, when the test gives it for a whole document
    fragment: str | None = None
    script: bool = True


def sections(text: str) -> list[dict[str, str]]:
    """A .dat file's tests: each a dict of its #sections (data, errors, document...) to their text."""
    tests, current, name = [], {}, None
    for line in text.split("\n"):
        if re.fullmatch(r"#[a-z-]+", line) and (line == "#data" or name != "data" or line == "#errors"):
            name = line[1:]
            if name == "data":
                current = {}
                tests.append(current)
            current[name] = ""
        elif name is not None:
            current[name] += line + "\n"
    return tests


def tree_cases(path: Path) -> list[Case]:
    cases = []
    for name in sorted(path.glob("tree-construction/*.dat")):  # not scripted/: those run the page's scripts
        for test in sections(name.read_bytes().decode("utf-8")):
            case = Case(test["data"][:-1])  # the line break before the next section is not data
            case.fragment = test.get("document-fragment", "").strip() or None
            case.script = "script-off" not in test
            case.document = test.get("document", "").rstrip("\n") + "\n"
            cases.append(case)
    return cases


def tokenizer_pages(path: Path) -> list[str]:
    pages = []
    for name in sorted(path.glob("tokenizer/*.test")):
        for test in json.loads(name.read_text(encoding="utf-8")).get("tests", []):
            text = test["input"]
            if test.get("doubleEscaped"):
                text = re.sub(r"\\u([0-9A-Fa-f]{4})", lambda m: chr(int(m.group(1), 16)), text)
            for state in test.get("initialStates", ["Data state"]):
                start = RAW_STATES[state]
                last = test.get("lastStartTag")
                if last and state in ("RCDATA state", "RAWTEXT state"):
                    start = f"<{last}>"
                pages.append(start + text)
    return pages


def variants(page: str) -> list[str]:
    """The page with an image put before one of its tags, or at its end."""
    spots = sorted({0, len(page), *(m.start() for m in re.finditer("<", page))})
    if len(spots) > MAX_VARIANTS:
        step = len(spots) / MAX_VARIANTS
        spots = [spots[int(i * step)] for i in range(MAX_VARIANTS - 1)] + [len(page)]
    return [page[:at] + VARIANTS[n % 3].format(n) + page[at:] for n, at in enumerate(spots)]


def images_of(root) -> list[frozenset[str]]:
    """The attribute names of each HTML <img> of a parsed tree, template contents left out."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.name == "img" and node.namespace == "html":
            found.append(frozenset(node.attrs))
        stack.extend(reversed(getattr(node, "children", None) or []))
    return found


def expected_images(document: str) -> list[frozenset[str]]:
    """The same, read from an html5lib-tests #document."""
    found, inert_below = [], None
    lines = document.splitlines()
    for n, line in enumerate(lines):
        depth = len(line) - len(line[2:].lstrip(" ")) - 2
        if inert_below is not None and depth <= inert_below:
            inert_below = None
        if inert_below is not None:
            continue
        if line[2:].strip() == "content":
            inert_below = depth
        elif line[2:].strip() == "<img>":
            names, prefix = [], "| " + " " * (depth + 2)
            for attr in lines[n + 1 :]:  # an <img> has no children: what is indented below it are attributes
                if not attr.startswith("|"):
                    continue  # a value's next line
                if not attr.startswith(prefix) or attr[len(prefix)] == " ":
                    break
                names.append(attr[len(prefix) :].split("=", 1)[0])
            found.append(frozenset(names))
    return found


def without_comments(document: str) -> list[str]:
    """A #document's lines but its comments: justhtml keeps a <?...> bogus comment as a processing
    instruction (or drops a bare "<?"), which is never an element either."""
    return [line for line in document.rstrip("\n").split("\n") if not re.match(r"\| *<(!--|\?)", line)]


def decoded(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def standard_tree(text: str, case: Case | None = None):
    if case is not None and case.fragment:
        namespace, _, name = case.fragment.rpartition(" ")
        context = FragmentContext(name, namespace or None)
        return JustHTML(text, sanitize=False, fragment_context=context, scripting_enabled=case.script).root
    return JustHTML(text, sanitize=False, scripting_enabled=case.script if case else True).root


@dataclass
class Tally:
    pages: int = 0
    images: int = 0
    written: int = 0
    refused: int = 0
    standard_trees: int = 0  # inputs whose expected #document justhtml was checked against
    disagreements: list[str] = field(default_factory=list)


def check_page(page: str, tally: Tally, expected: list[frozenset[str]] | None = None) -> None:
    data = page.encode("utf-8", "surrogatepass")
    tally.pages += 1
    try:
        found = scan(data)
    except PageError:
        tally.refused += 1
        return
    if expected is None:
        expected = images_of(standard_tree(decoded(data)))
    images = [frozenset(n.replace("\x00", "\ufffd") for n in i.attributes) for i in found.images if i.element == "img"]
    tally.images += len(images)
    if images != expected:
        tally.disagreements.append(f"images {images} != tree's {expected}: {page!r}")
        return
    writes = [i for i in found.images if i.decision in (FILL, REVIEW, EMPTY)]
    tally.written += len(writes)
    patched = apply(data, [alt_edit(found.page, image, "X") for image in writes])
    # the tree of the page's byte view, with the attributes fill meant to add, must be the patched page's
    before = parse(found.page.text[found.page.skip :])
    at = {image.start // found.page.unit - found.page.skip for image in writes}
    stack = [before]
    while stack:
        node = stack.pop()
        if node.name[:1] not in "#!" and node.origin_offset is not None and node.origin_offset in at:
            node.attrs["alt"] = "X"
            node.attrs.setdefault(MARKER[0], MARKER[1])
        stack.extend(getattr(node, "children", None) or [])
    after = JustHTML(patched.decode("latin-1")[found.page.skip :], sanitize=False).root
    if to_test_format(after) != to_test_format(before):
        tally.disagreements.append(f"writing changed more than the attributes: {page!r}")


def report(name: str, tally: Tally) -> None:
    print(f"\n{name}: {tally.pages} pages, {tally.images} images found, {tally.written} written, "
          f"{tally.refused} refused, {tally.standard_trees} standard trees, "
          f"{len(tally.disagreements)} disagreements")


def test_tree_construction_inputs_and_image_variants():
    tally = Tally()
    for case in tree_cases(corpus()):
        if not case.fragment:
            built = to_test_format(standard_tree(case.data, case))
            if without_comments(built) != without_comments(case.document):
                tally.disagreements.append(f"justhtml's tree is not the standard's: {case.data!r}")
            tally.standard_trees += 1
        whole = case.document if not case.fragment and case.script else None
        check_page(case.data, tally, expected_images(whole) if whole else None)
        for page in variants(case.data):
            check_page(page, tally)
    report("tree-construction", tally)
    assert tally.disagreements == []


def test_tokenizer_inputs_and_image_variants():
    tally = Tally()
    for page in tokenizer_pages(corpus()):
        check_page(page, tally)
        for variant in variants(page):
            check_page(variant, tally)
    report("tokenizer", tally)
    assert tally.disagreements == []


def encoding_cases(path: Path) -> list[tuple[bytes, str]]:
    cases = []
    for name in sorted(path.glob("encoding/*.dat")):
        text = name.read_bytes()
        for chunk in text.split(b"#data\n")[1:]:
            data, _, rest = chunk.partition(b"\n#encoding\n")
            cases.append((data, rest.split(b"\n")[0].decode().strip().lower()))
    return cases


def test_encoding_sniffing():
    import webencodings

    cases = encoding_cases(corpus())
    wrong = []
    for data, label in cases:
        page = scan(data).page
        expected = webencodings.lookup(label).name
        guessed_default = not page.declared and expected == "windows-1252"
        if page.encoding.name != expected and not guessed_default:
            wrong.append((data[:80], label, page.encoding.name))
    print(f"\nencoding: {len(cases)} pages, {len(wrong)} disagreements")
    assert wrong == []
