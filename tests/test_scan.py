"""scan: which images need alt text, by each rule of docs/alt-text-rules.md, and where they are."""

import pytest

from alttext.scan import EMPTY, FILL, KEEP, REPORT, REVIEW, largest_candidate, scan


def decisions(page: str, **options) -> list[tuple[str, str]]:
    return [(i.decision, i.reason) for i in scan(page.encode(), **options).images]


def decided(page: str, **options) -> list[str]:
    return [d for d, _ in decisions(page, **options)]


def decision(page: str, **options) -> str:
    (found,) = decided(page, **options)
    return found


# -- never touch


@pytest.mark.parametrize(
    "tag",
    [
        '<img src=a.png alt="">',
        "<img src=a.png alt>",
        '<img src=a.png alt="A red bicycle.">',
        '<img src=a.png ALT="Logo">',
        "<img src=a.png role=presentation>",
        '<img src=a.png role="none">',
        '<img src=a.png aria-label="Chart of sales">',
        "<img src=a.png hidden>",
        '<img src=a.png aria-hidden="true">',
    ],
)
def test_what_a_person_wrote_or_marked_is_kept(tag):
    assert decision(tag) == KEEP


@pytest.mark.parametrize("ancestor", ["<div hidden>", '<section aria-hidden="TRUE">'])
def test_images_in_hidden_ancestors_are_kept(ancestor):
    assert decision(f"{ancestor}<p><span><img src=a.png></span></p></div>") == KEEP


@pytest.mark.parametrize("tag", ["<img src=a.png role=presentation tabindex=0>", "<img role=none aria-live=polite>"])
def test_presentation_role_is_ignored_when_focusable_or_with_global_aria(tag):
    assert decision(tag) == FILL


def test_aria_labelledby_names_only_when_it_points_at_text():
    page = (
        "<p id=cap>Sales by month</p><p id=blank> </p>"
        "<img src=a.png aria-labelledby='nothing cap'>"
        "<img src=b.png aria-labelledby=nothing>"
        "<img src=c.png aria-labelledby=blank>"
        "<img src=d.png aria-label=''>"
    )
    assert decided(page) == [KEEP, FILL, FILL, FILL]


def test_image_button_is_named_by_a_label_around_it_or_pointing_at_it():
    page = (
        "<label>Search <input type=image src=s.png></label>"
        "<label for=go>Go</label><input id=go type=image src=g.png>"
        "<label for=other>Other</label><input id=b type=image src=b.png>"
    )
    assert decided(page) == [KEEP, KEEP, REVIEW]


# -- treat as missing


def test_whitespace_alt_is_missing_and_replaced_in_place():
    found = scan(b'<img src=a.png alt="  ">').images[0]
    assert (found.decision, found.reason) == (FILL, "alt was only whitespace")
    assert found.alt_span == (15, 23)


def test_title_alone_is_reported_and_filled_only_with_fill_titled():
    assert decision('<img src=a.png title="Tip">') == REPORT
    assert decisions('<img src=a.png title="Tip">', fill_titled=True) == [(FILL, "had only a title")]
    assert decision('<img src=a.png title="">') == FILL


@pytest.mark.parametrize("alt", ["", 'alt=""', 'alt=" "'])
def test_image_button_without_alt_needs_a_name_and_review(alt):
    assert decision(f"<input type=IMAGE src=go.png {alt}>") == REVIEW


def test_area_links_without_alt_are_reported_not_filled():
    page = "<map><area href=/a><area href=/b alt='Contact'><area shape=default></map>"
    assert decided(page) == [REPORT, KEEP]


def test_overwrite_replaces_a_persons_alt_but_never_decorative():
    page = '<img src=a.png alt="Old words"><img src=b.png alt="">'
    assert decided(page, overwrite=True) == [FILL, KEEP]


# -- fill but flag for review


def test_only_content_of_a_link_or_button_is_flagged_and_text_means_empty_alt():
    page = (
        "<a href=/><img src=a.png></a>"
        "<button><img src=b.png></button>"
        "<a href=/>Home <img src=c.png></a>"
        "<a href=/ aria-label=Home><img src=d.png></a>"
        "<a href=/><img src=e.png><img src=logo.png alt='ACME'></a>"
        "<a name=anchor><img src=f.png></a>"
        "<span role=button><img src=g.png></span>"
    )
    assert decided(page) == [REVIEW, REVIEW, EMPTY, EMPTY, EMPTY, KEEP, FILL, REVIEW]


def test_interactive_role_on_the_image_is_flagged():
    assert decision("<img src=a.png role=checkbox>") == REVIEW


def test_role_img_needs_a_name_but_cannot_be_filled():
    page = (
        "<div role=img></div><div role=img aria-label=Chart></div>"
        "<svg role=img><title>Sales</title></svg><svg role=img><rect/></svg>"
        "<svg><rect/></svg>"
    )
    assert decided(page) == [REPORT, KEEP, KEEP, REPORT]


# -- where the pixels are


def test_pixel_sources_in_order():
    page = (
        "<img src=a.png srcset='a-1x.png 1x, a-2x.png 2x'>"
        "<img src='data:image/gif;base64,R0lGOD' data-src=real.jpg>"
        "<img src=img/blank.gif data-lazy-src=lazy.jpg>"
        "<img data-srcset='s.jpg 300w, l.jpg 1200w, m.jpg 800w'>"
        "<picture><source srcset='p.avif 2x' type=image/avif><source srcset='p.webp'>"
        "<img src=p.jpg></picture>"
        "<img>"
    )
    assert [i.sources for i in scan(page.encode()).images] == [
        ["a.png", "a-2x.png"],
        ["real.jpg", "data:image/gif;base64,R0lGOD"],
        ["lazy.jpg", "img/blank.gif"],
        ["l.jpg"],
        ["p.jpg", "p.avif", "p.webp"],
        [],
    ]


@pytest.mark.parametrize(
    ("srcset", "largest"),
    [
        ("a.jpg 1x, b.jpg 2x", "b.jpg"),
        ("a.jpg 100w,b.jpg 50w", "a.jpg"),
        ("only.jpg", "only.jpg"),
        ("a.jpg, b.jpg 3x", "b.jpg"),
        ("data:image/png;base64,AAA= 1x, big.png 2x", "big.png"),
        ("", None),
    ],
)
def test_largest_srcset_candidate(srcset, largest):
    assert largest_candidate(srcset) == largest


def test_attribute_values_are_decoded_entities_and_all():
    found = scan(b"<base href='/docs/'><img src='a&amp;b.png?x=1&#38;y=2'>")
    assert found.base == "/docs/"
    assert found.images[0].sources == ["a&b.png?x=1&y=2"]


# -- where images are not


@pytest.mark.parametrize(
    "wrapper",
    [
        "<!-- {} -->",
        "<!--[if IE]>{}<![endif]-->",
        "<script>document.write('{}')</script>",
        "<SCRIPT type=text/template>{}</SCRIPT >",
        "<style>/* {} */</style>",
        "<template><div>{}</div></template>",
        "<textarea>{}</textarea>",
        "<title>{}</title>",
        "<svg><![CDATA[ a > b {} ]]></svg>",
        "<img src=a.png alt='{}'>",
        "<!DOCTYPE html {}>",
    ],
)
def test_images_that_are_not_elements_are_not_found(wrapper):
    page = wrapper.format("<img src=hidden.png>") + "<img src=real.png>"
    assert [i.source for i in scan(page.encode()).images if i.decision != KEEP] == ["real.png"]


@pytest.mark.parametrize(
    "page",
    [
        # a legacy script: the escape states keep the second </script> and the <img> in the script
        "<script><!-- document.write(\"<script src='a.js'></script>\"); document.write(\"<img src='x.png'>\"); //-->"
        "</script>",
        "<svg><foreignObject><p>text</p></foreignObject><desc><b>d</b></desc><g><![CDATA[<img src=x.png>]]></g></svg>",
        "<math><annotation-xml encoding='text/html'><p>p</p></annotation-xml><mtext><i>t</i></mtext></math>",
        "<noscript><img src=x.png></noscript>",  # scripting is on in browsers: this is text
        "<iframe><img src=x.png></iframe><noembed><img src=x.png></noembed><xmp><img src=x.png></xmp>",
    ],
)
def test_raw_text_and_foreign_content_as_browsers_parse_them(page):
    assert [i.source for i in scan((page + "<img src=real.png>").encode()).images] == ["real.png"]


def test_images_browsers_make():
    page = (
        "<image src=a.png>"  # browsers make it an <img>
        "<table><tr><td>x</td></tr><img src=b.png></table>"  # fostered out of the table
        "<svg><img src=c.png></svg>"  # breaks out of foreign content
        "<svg><foreignObject><img src=d.png></foreignObject></svg>"
        "<math><mi><img src=e.png></mi></math>"
        "<script><!--<script></script><img src=no.png></script>-->--></script><img src=f.png>"
    )
    found = scan(page.encode()).images
    assert [i.sources for i in found] == [["a.png"], ["b.png"], ["c.png"], ["d.png"], ["e.png"], ["f.png"]]
    assert page.encode()[found[0].start : found[0].end] == b"<image src=a.png>"


def test_hidden_and_inert_text_does_not_name_a_link():
    page = (
        "<a href=/><span hidden>Home</span><img src=a.png></a>"
        "<a href=/><span aria-hidden=true>Home</span><img src=b.png></a>"
        "<a href=/><template>Home</template><img src=c.png></a>"
        "<a href=/><script>var home</script><img src=d.png></a>"
        "<a href=/><span>Home</span><img src=e.png></a>"
        "<a href=/><img src=f.png><img src=g.png alt=Home hidden></a>"
    )
    assert decided(page) == [REVIEW, REVIEW, REVIEW, REVIEW, EMPTY, REVIEW, KEEP]


def test_aria_labelledby_reads_hidden_text():
    assert decision("<span id=n hidden>Close</span><img src=x.png aria-labelledby=n>") == KEEP


def test_downlevel_revealed_conditional_comment_content_is_markup():
    assert [i.source for i in scan(b"<![if !IE]><img src=a.png><![endif]>").images] == ["a.png"]


def test_tag_cut_off_by_the_end_of_the_file_is_not_an_element():
    assert scan(b'<p>ok</p><img src="a.png').images == []
    assert scan(b"<!-- unclosed <img src=a.png>").images == []


# -- offsets, lines, charsets


def test_offsets_point_into_the_original_bytes_and_lines_count_crlf():
    page = b"<p>\r\n<IMG\r\n SRC=a.png\r\n/>\r\n<img src=b.png></p>"
    first, second = scan(page).images
    assert page[first.start : first.end] == b"<IMG\r\n SRC=a.png\r\n/>"
    assert page[first.insert_at :].startswith(b"\r\n/>")
    assert (first.line, second.line) == (2, 5)
    assert page[second.insert_at :].startswith(b"></p>")


@pytest.mark.parametrize(
    ("page", "encoding", "declared"),
    [
        (b"\xef\xbb\xbf<img src=a.png>", "utf-8", True),
        (b"\xef\xbb\xbf<meta charset=windows-1252>", "utf-8", True),  # the BOM wins
        (b'<meta charset="windows-1252"><img src=a.png>', "windows-1252", True),
        (b"<meta charset=iso-8859-1><img src=a.png>", "windows-1252", True),
        (b"<meta charset=latin1>", "windows-1252", True),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">', "shift_jis", True),
        (b"<meta charset=utf-16><img src=a.png>", "utf-8", True),
        (b"<meta charset=x-user-defined>", "windows-1252", True),
        (b"<meta charset=klingon><meta charset=gbk>", "gbk", True),  # an unknown label is passed over
        (b"<!-- <meta charset=windows-1252> --><img src=a.png>", "utf-8", False),
        (b"<img src=a.png>", "utf-8", False),
        (b"<p>caf\xe9</p>", "windows-1252", False),  # not UTF-8: the standard's default
        # Python codec names that are no WHATWG label: the standard's fallback, never that codec
        (b'<meta charset="idna"><img src=a.png>', "utf-8", False),
        (b"<meta charset=undefined><p>\xe9", "windows-1252", False),
        (b"<meta charset=cp037><img src=a.png>", "utf-8", False),
        (b"<meta charset=utf-8-sig><img src=a.png>", "utf-8", False),
        (b"<p>" + b"x" * 1100 + b"<meta charset=windows-1252>", "windows-1252", True),  # found by the parser
    ],
)
def test_charset_as_browsers_sniff_it(page, encoding, declared):
    found = scan(page).page
    assert (found.encoding.name, found.declared) == (encoding, declared)


def test_transport_charset_wins_over_meta():
    assert scan(b"<meta charset=utf-8>", charset="windows-1252").page.encoding.name == "windows-1252"
    assert scan(b"<meta charset=utf-8>", charset="cp037").page.encoding.name == "utf-8"


def test_values_are_decoded_in_the_page_charset():
    assert scan("<meta charset=windows-1252><img src='café.png'>".encode("cp1252")).images[0].sources == ["café.png"]
    sjis = "<meta charset=shift_jis><img src='画像.png' title=''>".encode("cp932")
    assert scan(sjis).images[0].sources == ["画像.png"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_pages_use_two_byte_offsets(codec):
    page = "\ufeff<p>😀</p>\n<img src=ä.png>".encode(codec)
    (found,) = scan(page).images
    assert found.sources == ["ä.png"] and found.line == 2
    assert page[found.start : found.end].decode(codec) == "<img src=ä.png>"
