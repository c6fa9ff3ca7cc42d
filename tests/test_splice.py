"""splice: the output is the input with attributes added, byte for byte, on every kind of page."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alttext.scan import EMPTY, FILL, REVIEW, scan
from alttext.splice import Edit, alt_edit, apply, escape

ADDED = re.compile(rb' alt="[^"]*" data-alt-generated="alttext"')
GEN = b' alt="A cat." data-alt-generated="alttext"'


def patch(page: bytes, alt: str = "A cat.", marker=("data-alt-generated", "alttext")) -> bytes:
    """What fill writes when every caption is `alt`."""
    found = scan(page)
    edits = [
        alt_edit(found.page, image, "" if image.decision == EMPTY else alt, marker)
        for image in found.images
        if image.decision in (FILL, REVIEW, EMPTY)
    ]
    return apply(page, edits)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (b"<IMG SRC=a.png>", b"<IMG SRC=a.png" + GEN + b">"),
        (b"<img src='a.png'/>", b"<img src='a.png'" + GEN + b"/>"),
        (b"<img src=a.png />", b"<img src=a.png" + GEN + b" />"),
        (b"<img src=a/>", b"<img src=a/" + GEN + b">"),  # the / belongs to the value
        (b"<img>", b"<img" + GEN + b">"),
        (b"<img/>", b"<img" + GEN + b"/>"),
        (b'<img\r\n  src="a.png"\r\n  width=3\r\n>', b'<img\r\n  src="a.png"\r\n  width=3' + GEN + b"\r\n>"),
        (b"<img src=a.png ismap>", b"<img src=a.png ismap" + GEN + b">"),
        (b'<img src=a.png alt=" ">', b'<img src=a.png alt="A cat." data-alt-generated="alttext">'),
        (b"<img src=a.png ALT='\t'>", b'<img src=a.png alt="A cat." data-alt-generated="alttext">'),
        (
            b"<a href=/>Home <img src=h.png></a>",
            b'<a href=/>Home <img src=h.png alt="" data-alt-generated="alttext"></a>',
        ),
        (b"<img src=a.png data-alt-generated=old alt=' '>", b'<img src=a.png data-alt-generated=old alt="A cat.">'),
    ],
)
def test_exact_bytes(page, expected):
    assert patch(page) == expected


UNTOUCHED = [
    b"<!-- <img src=a.png> -->",
    b"<!--[if lt IE 9]><img src=a.png><![endif]-->",
    b"<script>if (a<b) document.write('<img src=x>')</script>",
    b"<style>p::before { content: '<img src=x>' }</style>",
    b"<template><img src=a.png></template>",
    b"<textarea><img src=a.png></textarea>",
    b"<svg><![CDATA[ <img src=a.png> ]]></svg>",
    b"<!DOCTYPE html>\r\n<html lang=en>",
    b"<p>&amp; &lt;img src=x&gt; &copy; &#x1F600;</p>",
    b"<img alt=Kept src=a.png>",
]


@pytest.mark.parametrize("page", [*UNTOUCHED, b'<p><img src="a.png'])  # cut off: no element
def test_what_is_not_an_element_needing_alt_stays_exactly(page):
    assert patch(page) == page


def test_a_whole_awkward_page():
    head = b"\xef\xbb\xbf<!DOCTYPE html>\r\n<HTML><Head><meta charset=utf-8></Head>\r\n<BODY>\r\n"
    body = b"".join(UNTOUCHED) + b"\r\n<P>caf\xc3\xa9 &eacute;<IMG\r\n\tSRC='x.png'\r\n\tclass=a></P>\r\n"
    page = head + body + b"<p><b>broken <i>nesting</b></i><div <img src=y.png></BODY>"
    out = patch(page)
    assert out == head + body.replace(b"\tclass=a>", b"\tclass=a" + GEN + b">") + (
        b"<p><b>broken <i>nesting</b></i><div <img src=y.png></BODY>"
    )
    assert ADDED.sub(b"", out) == page


def test_windows_1252_page_keeps_its_encoding_and_gets_references_for_the_rest():
    page = "<meta charset=windows-1252><p>Caf\u00e9 \u2014</p><img src=a.png>".encode("cp1252")
    out = patch(page, alt="A café sign in 東京 & more.")
    assert out.endswith(
        b'<img src=a.png alt="A caf\xe9 sign in &#26481;&#20140; &amp; more." data-alt-generated="alttext">'
    )


def test_shift_jis_page_gets_shift_jis_bytes():
    page = "<meta charset=Shift_JIS><p>画像</p><img src=a.png>".encode("cp932")
    out = patch(page, alt="東京の写真。")
    assert out == page[:-1] + ' alt="東京の写真。" data-alt-generated="alttext">'.encode("cp932")


def test_bytes_invalid_in_the_declared_charset_survive():
    page = b"<meta charset=utf-8><p>\xff\xfe\xc3(</p><img src=a.png>\x80"
    out = patch(page, alt="Caf\u00e9.")
    assert out == page[:-2] + b' alt="Caf\xc3\xa9." data-alt-generated="alttext">\x80'


def test_a_page_without_a_charset_gets_ascii_only():
    assert (
        patch(b"<img src=a.png>", alt="Caf\u00e9.") == b'<img src=a.png alt="Caf&#233;." data-alt-generated="alttext">'
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_page(codec):
    page = "\ufeff<p>\U0001f600</p><img src=a.png>".encode(codec)
    assert patch(page).decode(codec) == "\ufeff<p>\U0001f600</p><img src=a.png" + GEN.decode() + ">"


def test_escaping_and_marker_are_configurable():
    assert escape('A "big" <cat> & dog') == "A &quot;big&quot; &lt;cat> &amp; dog"
    assert patch(b"<img>", alt='Say "hi" & <go>.', marker=None) == b'<img alt="Say &quot;hi&quot; &amp; &lt;go>.">'
    assert patch(b"<img>", marker=("data-by", "a&b")) == b'<img alt="A cat." data-by="a&amp;b">'


def test_overlapping_edits_are_refused():
    with pytest.raises(ValueError):
        apply(b"abcdef", [Edit(1, 3, b"x"), Edit(2, 4, b"y")])


# -- property: on any page, only the added attributes differ, and a second fill changes nothing

NAMES = st.sampled_from(["src", "SRC", "Src", "width", "class", "data-src", "title", "id", "alt", "role"])
VALUES = st.sampled_from(["a.png", "x y", "", "it's", 'say "hi"', "&amp;", "/", "caf\u00e9", "\n"])


@st.composite
def attribute(draw) -> str:
    name, value = draw(NAMES), draw(VALUES)
    quoting = draw(st.sampled_from(["'{}'", '"{}"', "{}", None]))
    if name == "alt" and (quoting is None or not value.strip()):
        value, quoting = "kept", "{}"  # a blank alt is replaced, not added to: tested above
    if quoting == "{}" and (not value or any(c in value for c in " \n'\"/")):
        quoting = '"{}"'
    if quoting is not None and quoting[0] in value:  # the other quote, then
        quoting = "'{}'" if quoting[0] == '"' else '"{}"'
    space = draw(st.sampled_from([" ", "\n", "\r\n  ", "\t"]))
    return space + (name if quoting is None else name + draw(st.sampled_from(["=", " = "])) + quoting.format(value))


@st.composite
def tag(draw) -> str:
    name = draw(st.sampled_from(["img", "IMG", "Img", "input type=image", "area href=/", "p", "a href=x"]))
    attributes = "".join(draw(st.lists(attribute(), max_size=4)))
    return "<" + name + attributes + draw(st.sampled_from([">", "/>", " />", " >"]))


PIECES = st.one_of(
    tag(),
    st.sampled_from(UNTOUCHED + [b"</a>", b"</p>", b"\r\n", b"<picture>", b"</picture>", b"<", b"&", b"-->"]),
    st.text(alphabet="ab <>/=\"'\n&;!-é日", max_size=8),
    st.binary(max_size=4),
)


@st.composite
def pages(draw) -> bytes:
    pieces = draw(st.lists(PIECES, max_size=12))
    page = b"".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in pieces)
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"<meta charset=windows-1252>"])) + page


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages())
def test_deleting_the_added_attributes_gives_the_input_back(page):
    assert not ADDED.search(page)
    out = patch(page)
    assert ADDED.sub(b"", out) == page
    assert patch(out) == out
