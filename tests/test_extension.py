"""The browser extension (alttext/extension) in Debian's Chromium, driven by Playwright: pages from a
real http.server, a real `alttext serve` service (with the fake describer: this checks the extension,
not the model), and the DOM as the content script left it. Its rules are checked against scan.py's
on every HTML snippet of test_scan.py."""

from __future__ import annotations

import ast
import base64
import os
import re
import shutil
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_describer import FakeDescriber, caption_of
from httpserver import serve
from imagefiles import encode, gradient
from live_service import free_port, running

from alttext import __version__
from alttext.scan import scan
from alttext.serve import EXTENSION_DIR, Service

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the dev extra)")
CHROMIUM = os.environ.get("ALTTEXT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TESTS = Path(__file__).resolve().parent
MARKER = "data-alt-generated"

# distinct sizes, so that each fake caption ("A test caption of N bytes.") names its picture
A = encode(gradient(), "PNG")
B = encode(gradient((80, 60)), "JPEG")
C = encode(gradient((30, 20)), "PNG")
D = encode(gradient((50, 50)), "PNG")
E = encode(gradient((70, 30)), "PNG")
F = encode(gradient((40, 40)), "PNG")
DOT = "data:image/gif;base64," + base64.b64encode(encode(gradient((1, 1)), "GIF")).decode()


@dataclass
class Browser:
    context: object  # playwright BrowserContext, with the extension loaded
    worker: object  # the extension's service worker

    @property
    def extension_id(self) -> str:
        return self.worker.url.split("/")[2]

    def use_service(self, url: str) -> None:
        self.worker.evaluate("url => chrome.storage.local.set({serviceUrl: url})", url)

    def tab_id(self, url: str) -> int:
        return self.worker.evaluate("async url => (await chrome.tabs.query({})).find(t => t.url === url).id", url)

    def badge(self, tab: int, getter: str = "getBadgeText") -> str:
        """The action's badge text in a tab (or, with getter="getTitle", its tooltip)."""
        return self.worker.evaluate(f"tabId => chrome.action.{getter}({{tabId}})", tab)

    def popup(self, tab: int):
        popup = self.context.new_page()
        popup.goto(f"chrome-extension://{self.extension_id}/popup.html?tab={tab}")
        return popup

    def page_state(self, url: str) -> dict | None:
        """What the content scripts of the tab showing `url` last reported: {frameId: {counts, online}}."""
        key = f"tab:{self.tab_id(url)}"
        return self.worker.evaluate("async key => (await chrome.storage.session.get(key))[key] || null", key)


def until(check, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def settled_counts(browser: Browser, url: str) -> dict:
    """The page's counts once nothing is being described or waiting to be (right after the service
    comes up, images can still be waiting while none is pending)."""

    def done():
        state = browser.page_state(url)
        counts = state and state.get("0", {}).get("counts")
        return counts if counts and not counts["pending"] and not counts["needed"] else None

    return until(done, what=f"{url} to settle")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (set ALTTEXT_CHROMIUM)")
    flags = [f"--disable-extensions-except={EXTENSION_DIR}", f"--load-extension={EXTENSION_DIR}"]
    with sync_api.sync_playwright() as playwright:
        # Playwright's headless=True starts Chromium's new headless mode (--headless), which runs extensions.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")), executable_path=CHROMIUM, headless=True, args=flags)
        try:
            worker = context.service_workers[0] if context.service_workers else context.wait_for_event(
                "serviceworker", timeout=15000)
            yield Browser(context, worker)
        finally:
            context.close()


class Recording(FakeDescriber):
    """The fake describer, counting the calls that have returned."""

    finished = 0

    def __call__(self, items):
        try:
            return super().__call__(items)
        finally:
            self.finished += 1


@pytest.fixture(scope="module")
def describer():
    return Recording()


@pytest.fixture(scope="module")
def service(describer):
    with running(Service(describer, None, {"model": "fake-model", "device": "cpu"})) as base:
        yield base


MAIN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>test page</title></head>
<body>
<p id="cap">Sales by month</p>
<img id="plain" src="/img/a.png">
<img id="decorative" src="/img/a.png" alt="">
<img id="person" src="/img/a.png" alt="A person wrote this.">
<img id="hidden" src="/img/a.png" hidden>
<div aria-hidden="true"><img id="hidden-ancestor" src="/img/a.png"></div>
<img id="labelled" src="/img/a.png" aria-label="Chart">
<img id="labelledby" src="/img/a.png" aria-labelledby="cap">
<img id="presentation" src="/img/a.png" role="presentation">
<img id="whitespace" src="/img/b.jpg" alt="  ">
<img id="titled" src="/img/a.png" title="Tip">
<a href="/x"><img id="link-only" src="/img/b.jpg"></a>
<a href="/y">Home <img id="link-text" src="/img/a.png"></a>
<input id="button" type="image" src="/img/a.png" alt="">
<img id="lazy" src="{dot}" data-src="/img/b.jpg">
<picture><source id="source" srcset="/img/b.jpg"><img id="picture" src="/img/a.png"></picture>
<img id="cross" src="{other}/c.png">
<img id="missing" src="/img/missing.png">
<img id="map" src="/img/a.png" usemap="#m" alt="Map"><map name="m"><area id="area" href="/z" coords="0,0,5,5"></map>
<img id="late">
</body></html>
"""
# id → (alt, marker) after the content script ran
EXPECTED = {
    "plain": (caption_of(A), "alttext"),
    "decorative": ("", None),
    "person": ("A person wrote this.", None),
    "hidden": (None, None),
    "hidden-ancestor": (None, None),
    "labelled": (None, None),
    "labelledby": (None, None),
    "presentation": (None, None),
    "whitespace": (caption_of(B), "alttext"),
    "titled": (None, None),  # title only: reported, not filled (fill's default)
    "link-only": (caption_of(B), "alttext"),  # written and flagged, as fill does
    "link-text": ("", "alttext"),
    "button": (caption_of(A), "alttext"),
    "lazy": (caption_of(B), "alttext"),  # the data-src picture, not the 1x1 placeholder
    "source": (None, None),
    "picture": (caption_of(B), "alttext"),  # what the browser shows: the <source>
    "cross": (caption_of(C), "alttext"),  # another origin: the service worker fetches it
    "missing": (None, None),
    "map": ("Map", None),
    "area": (None, None),
    "late": (None, None),  # no source yet
}
COUNTS = {"filled": 5, "decorative": 1, "hedged": 0, "review": 4, "skipped": 2, "kept": 8, "pending": 0, "needed": 0}


@pytest.fixture(scope="module")
def site():
    with ExitStack() as stack:
        other = stack.enter_context(serve({"/c.png": (200, "image/png", C)}))
        routes = {
            "/main.html": (200, "text/html; charset=utf-8",
                           MAIN.replace("{dot}", DOT).replace("{other}", other).encode()),
            "/img/a.png": (200, "image/png", A),
            "/img/b.jpg": (200, "image/jpeg", B),
            "/img/d.png": (200, "image/png", D),
            "/img/e.png": (200, "image/png", E),
            "/img/f.png": (200, "image/png", F),
            "/framed.html": (200, "text/html", b"<img id=top src=/img/a.png><iframe src=/frame.html></iframe>"),
            "/frame.html": (200, "text/html", b"<a href=/><img id=inner src=/img/b.jpg></a>"),
        }
        yield stack.enter_context(serve(routes))


def alts(page) -> dict:
    return page.evaluate(
        """marker => Object.fromEntries([...document.querySelectorAll('[id]')].filter(e => e.id !== 'cap')
             .map(e => [e.id, [e.getAttribute('alt'), e.getAttribute(marker)]]))""",
        MARKER,
    )


@contextmanager
def visiting(browser: Browser, url: str, service_url: str):
    """A new tab on `url`, with the extension pointed at `service_url`."""
    browser.use_service(service_url)
    page = browser.context.new_page()
    try:
        page.goto(url)
        yield page
    finally:
        page.close()


def add_image(page, element_id: str, src: str) -> None:
    page.evaluate("([id, src]) => { const img = document.createElement('img'); img.id = id; img.src = src;"
                  " document.body.append(img); }", [element_id, src])


def test_distinct_pictures_have_distinct_captions():
    assert len({caption_of(x) for x in (A, B, C, D, E, F)}) == 6


def test_fills_what_the_rules_say_and_nothing_else(browser, service, site):
    with visiting(browser, site + "/main.html", service) as page:
        page.wait_for_selector("#cross[alt]")
        counts = settled_counts(browser, page.url)
        assert {k: tuple(v) for k, v in alts(page).items()} == EXPECTED
        assert counts == COUNTS
        assert browser.badge(browser.tab_id(page.url)) == "5"


def test_images_added_or_changed_later_are_described(browser, service, site, describer):
    with visiting(browser, site + "/main.html", service) as page:
        page.wait_for_selector("#plain[alt]")
        settled_counts(browser, page.url)
        # a new image, an image that gets its first source, a filled image that shows other pixels
        add_image(page, "added", "/img/d.png")
        page.evaluate("() => { document.getElementById('late').src = '/img/d.png';"
                      " document.getElementById('plain').src = '/img/e.png'; }")
        page.wait_for_function(
            "([d, e]) => document.getElementById('added').alt === d && document.getElementById('late').alt === d"
            " && document.getElementById('plain').alt === e",
            arg=[caption_of(D), caption_of(E)])
        found = alts(page)
        assert found["added"] == found["late"] == [caption_of(D), "alttext"]
        assert found["plain"] == [caption_of(E), "alttext"]
        assert found["person"] == ["A person wrote this.", None]


def test_images_in_frames_are_filled_and_counted_with_the_page(browser, service, site):
    with visiting(browser, site + "/framed.html", service) as page:
        inner = page.frame_locator("iframe").locator("#inner")
        until(lambda: inner.get_attribute("alt") == caption_of(B), what="the frame's image")
        until(lambda: page.get_attribute("#top", "alt") == caption_of(A), what="the page's image")
        tab = browser.tab_id(page.url)
        until(lambda: browser.badge(tab, "getTitle") == "alttext: 1 filled, 1 for review, 0 skipped",
              what="both frames' counts")
        assert browser.badge(tab) == "1"


def test_an_alt_that_appears_while_the_service_works_is_never_overwritten(browser, service, site, describer):
    with visiting(browser, site + "/main.html", service) as page:
        try:
            settled_counts(browser, page.url)
            before = describer.finished
            describer.delay_s = 1.0
            add_image(page, "slow", "/img/f.png")
            until(lambda: len(describer.calls) > before, what="the service to be asked")  # and it waits 1 s
            page.evaluate("() => document.getElementById('slow').setAttribute('alt', 'Written by a person.')")
            until(lambda: describer.finished > before, what="the service to answer")
            # an image added after the answer came is filled after it was handled
            add_image(page, "after", "/img/d.png")
            page.wait_for_selector("#after[alt]")
            assert describer.calls[before] == [site + "/img/f.png"]
            assert alts(page)["slow"] == ["Written by a person.", None]
        finally:
            describer.delay_s = 0.0


def test_with_the_service_down_the_page_is_untouched_until_it_runs(browser, service, site):
    with visiting(browser, site + "/main.html", f"http://127.0.0.1:{free_port()}") as page:
        until(lambda: (browser.page_state(page.url) or {}).get("0", {}).get("online") is False,
              what="the content script to find the service down")
        untouched = {k: [None, None] if v[1] else list(v) for k, v in EXPECTED.items()}
        untouched["whitespace"] = ["  ", None]
        untouched["button"] = ["", None]
        assert alts(page) == untouched
        tab = browser.tab_id(page.url)
        assert browser.badge(tab) == "off"
        popup = browser.popup(tab)
        popup.wait_for_selector("#service.down")
        assert "is not running" in popup.inner_text("#service") and "alttext serve" in popup.inner_text("#service code")
        assert popup.inner_text("#count-needed") == "10"
        popup.close()
        # started: the popup tells the page, which fills in what it needs
        browser.use_service(service)
        popup = browser.popup(tab)
        until(lambda: "is running" in popup.inner_text("#service"), what="the popup to find the service")
        page.wait_for_selector("#cross[alt]")
        popup.close()
        assert settled_counts(browser, page.url) == COUNTS
        assert {k: tuple(v) for k, v in alts(page).items()} == EXPECTED


def test_the_popup_shows_the_service_and_the_counts(browser, service, site):
    with visiting(browser, site + "/main.html", service) as page:
        settled_counts(browser, page.url)
        popup = browser.popup(browser.tab_id(page.url))
        popup.wait_for_selector("#count-filled")
        assert popup.inner_text("#service") == (
            f"The alttext service is running at {service} (model fake-model, on cpu).")
        shown = {name: popup.inner_text(f"#count-{name}") for name in COUNTS if name not in ("pending", "needed")}
        assert shown == {"filled": "5", "decorative": "1", "hedged": "0", "review": "4", "skipped": "2", "kept": "8"}
        listed = popup.eval_on_selector_all("#flagged li", "items => items.map(item => item.innerText)")
        assert sorted(listed) == sorted([  # in the order the answers came
            "a.png: has only a title, which is advisory (--fill-titled fills it)",
            "z: <area href> without alt: a person must say where it links",
            "b.jpg: only content of its <a>: alt must say its purpose",
            'a.png: alt="" on an image button; image button: alt must say what it does',
            "missing.png: HTTP 404 Not Found",
            "an image without a source: no image source (src, srcset or data-src)",
        ])
        popup.close()


class Gated(FakeDescriber):
    """The fake describer, answering each call only when a test lets it through."""

    def __init__(self):
        super().__init__()
        self.go = threading.Semaphore(0)

    def __call__(self, items):
        assert self.go.acquire(timeout=30)
        return super().__call__(items)


TALL = [encode(gradient((20 + n, 20)), "PNG") for n in range(10)]


def test_images_nearest_the_viewport_are_asked_for_first_and_each_alt_written_as_it_comes(browser):
    # column-reverse: the last <img> in the document is the one on screen, the first is 5,400 px below
    images = "".join(f'<img id="v{n}" src="/v/{n}.png" style="height:600px">' for n in range(10))
    page_html = f'<div style="display:flex;flex-direction:column-reverse">{images}</div>'.encode()
    routes = {"/tall.html": (200, "text/html", page_html),
              **{f"/v/{n}.png": (200, "image/png", data) for n, data in enumerate(TALL)}}
    gated = Gated()
    with serve(routes) as site, running(Service(gated, None, {"model": "fake-model", "device": "cpu"})) as base:
        try:
            with visiting(browser, site + "/tall.html", base) as page:
                gated.go.release()  # the service's first batch is one image
                page.wait_for_selector("#v9[alt]")
                assert gated.calls[0] == [site + "/v/9.png"]
                assert page.get_attribute("#v9", "alt") == caption_of(TALL[9])
                assert page.eval_on_selector_all("img[alt]", "found => found.length") == 1  # the rest wait
                for _ in range(20):
                    gated.go.release()
                page.wait_for_function("() => document.querySelectorAll('img[alt]').length === 10")
                assert [source for call in gated.calls for source in call] == [
                    f"{site}/v/{n}.png" for n in range(9, -1, -1)]
        finally:
            for _ in range(20):
                gated.go.release()


ASKED = """<!DOCTYPE html><html lang="en"><body>
<img id="person" src="/img/a.png" alt="A person wrote this.">
<a id="link" href="/x"><img src="/img/b.jpg" alt="Home"></a>
<p id="words">text</p>
</body></html>"""
LIVE = "#alttext-live-region"


def test_any_image_is_described_on_demand_and_spoken_as_automatic(browser, service, site):
    routes = {"/asked.html": (200, "text/html", ASKED.encode()), "/img/a.png": (200, "image/png", A),
              "/img/b.jpg": (200, "image/jpeg", B)}
    assert browser.worker.evaluate("() => chrome.contextMenus.update('describe-image', {}).then(() => true)")
    with serve(routes) as here, visiting(browser, here + "/asked.html", service) as page:
        tab = browser.tab_id(page.url)
        # the context menu's "Describe this image" on an image that has a person's alt
        browser.worker.evaluate("([src, tab]) => askToDescribe({srcUrl: src, frameId: 0}, {id: tab})",
                                [here + "/img/a.png", tab])
        page.wait_for_function("t => document.querySelector('#alttext-live-region')?.textContent === t",
                               arg=f"Automatic description, may be wrong: {caption_of(A)}")
        assert page.get_attribute(LIVE, "role") == "status"
        assert page.get_attribute("#person", "alt") == "A person wrote this."  # spoken, never written over
        # the keyboard command: the focused link's image
        page.focus("#link")
        browser.worker.evaluate("tab => askToDescribe({}, {id: tab})", tab)
        page.wait_for_function("t => document.querySelector('#alttext-live-region')?.textContent === t",
                               arg=f"Automatic description, may be wrong: {caption_of(B)}")
        page.evaluate("() => { const words = document.getElementById('words'); words.tabIndex = 0; words.focus(); }")
        browser.worker.evaluate("tab => askToDescribe({}, {id: tab})", tab)
        page.wait_for_function("t => document.querySelector('#alttext-live-region')?.textContent === t",
                               arg="alttext: no image is focused or under the pointer.")


def test_guesses_under_the_threshold_are_written_hedged_only_when_chosen(browser, site):
    # every fake caption is under a threshold of 1.0: flagged, with the model's guess
    with running(Service(FakeDescriber(), 1.0, {"model": "fake-model", "device": "cpu"})) as unsure:
        with visiting(browser, site + "/main.html", unsure) as page:
            counts = settled_counts(browser, page.url)
            assert page.get_attribute("#plain", "alt") is None and counts["filled"] == 0
            popup = browser.popup(browser.tab_id(page.url))
            popup.wait_for_selector("#flagged li")
            assert not popup.is_checked("#hedge")
            guessed = popup.eval_on_selector_all("#flagged li q", "found => found.map(q => q.textContent)")
            assert caption_of(A) in guessed
            popup.check("#hedge")  # the reader chooses hedged guesses
            popup.close()
        try:
            with visiting(browser, site + "/main.html", unsure) as page:
                page.wait_for_selector("#plain[alt]")
                counts = settled_counts(browser, page.url)
                hedged = "Appears to be: " + caption_of(A)[0].lower() + caption_of(A)[1:]
                assert [page.get_attribute("#plain", name) for name in ("alt", MARKER)] == [hedged, "alttext"]
                assert page.get_attribute("#link-only", "alt") is None  # a link's purpose is not guessed
                popup = browser.popup(browser.tab_id(page.url))
                assert popup.inner_text("#count-hedged") == str(counts["hedged"]) and counts["hedged"] > 0
                popup.close()
        finally:
            browser.worker.evaluate("() => chrome.storage.local.set({hedge: false})")


# hosts as a page may write them in an image's URL: every spelling of a private address, then public ones
PRIVATE_HOSTS = [
    "localhost", "localhost.", "LOCALHOST", "LocalHost.", "a.localhost.", "printer", "intranet.", "nas.local",
    "printer.local.", "PRINTER.LOCAL", "app.internal.", "router.lan", "router.home.arpa.",
    "127.0.0.1", "127.0.0.1.", "127.1", "2130706433", "017700000001", "0x7f000001", "0x7f.1", "0177.0.0.1",
    "0.0.0.0", "0", "10.1.2.3", "10.0.0.1.", "012.1", "172.20.0.1", "192.168.1.1", "0xc0.0xa8.1.1", "3232235777",
    "169.254.169.254", "100.64.0.1", "224.0.0.1",
    "[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::FFFF:192.168.0.1]",
    "[::127.0.0.1]", "[fe80::1]", "[FD00::1]", "[fc00::]", "[64:ff9b::10.0.0.1]", "[2002:c0a8:101::1]",
]
PUBLIC_HOSTS = ["example.org", "example.org.", "EXAMPLE.ORG", "93.184.216.34", "172.32.0.1", "8.8.8.8",
                "[2606:4700::1111]", "[::ffff:8.8.8.8]"]


def test_the_page_language_goes_with_each_image(browser):
    """The service hears each image's language (its nearest lang): on the German part of a page the English
    caption is flagged, not written; the English part and a lang="" part (unknown: English) are filled."""
    page_html = (b"<html lang=de><body><img id=de src=/img/d.png><p lang=en-GB><img id=en src=/img/e.png></p>"
                 b"<div lang=''><img id=unknown src=/img/f.png></div></body></html>")
    routes = {"/lang.html": (200, "text/html", page_html), "/img/d.png": (200, "image/png", D),
              "/img/e.png": (200, "image/png", E), "/img/f.png": (200, "image/png", F)}
    recording = Recording()
    with serve(routes) as pages, running(Service(recording, None, {"model": "fake-model", "device": "cpu"})) as base, \
            visiting(browser, pages + "/lang.html", base) as page:
        counts = settled_counts(browser, page.url)
        found = alts(page)
    assert found == {"de": [None, None], "en": [caption_of(E), "alttext"], "unknown": [caption_of(F), "alttext"]}
    assert counts["filled"] == 2 and counts["review"] == 1
    assert sorted(zip(sum(recording.calls, []), sum(recording.languages, []))) == [
        (pages + "/img/d.png", "de"), (pages + "/img/e.png", "en"), (pages + "/img/f.png", "en")]


def test_images_on_private_addresses_are_not_read_for_public_pages(browser):
    hosts = PRIVATE_HOSTS + PUBLIC_HOSTS
    private = browser.worker.evaluate("hosts => hosts.map(h => privateHost(new URL(`http://${h}/a.png`).hostname))",
                                      hosts)
    assert dict(zip(hosts, private)) == {**dict.fromkeys(PRIVATE_HOSTS, True), **dict.fromkeys(PUBLIC_HOSTS, False)}
    refused = browser.worker.evaluate("""async hosts => {
        const read = async (url, page) => { try { await fetchImage(url, new URL(page)); return 'read'; }
                                            catch (e) { return e.message; } };
        const found = [];
        for (const host of hosts) found.push(await read(`http://${host}/cam.jpg`, 'https://example.org./'));
        return [...found, await read('javascript:alert(1)', 'https://example.org/')];
    }""", PRIVATE_HOSTS)
    assert refused == ["on a private network, named by a public page: not read"] * len(PRIVATE_HOSTS) + [
        "javascript URLs are not read"]


# -- the rules: rules.js against scan.py


def scan_test_pages() -> list[str]:
    """Every HTML snippet written in test_scan.py (ASCII ones: the charset tests are about bytes), wrappers
    ('<!-- {} -->') filled with an image, as that test does."""
    pages = []
    for node in ast.walk(ast.parse((TESTS / "test_scan.py").read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            if text.isascii() and re.search(r"<[A-Za-z!]", text):
                pages.append(text.format("<img src=hidden.png>") + "<img src=real.png>" if "{}" in text else text)
    return pages


EXTRA_PAGES = [
    MAIN,
    "<div hidden><p><span><img src=a.png></span></p></div><section aria-hidden=TRUE><img src=b.png></section>",
    "<input type=image src=a.png><input type=IMAGE src=b.png alt=' '><input type=image src=c.png aria-label=Go>",
    "<a href=/><img src=a.png role=presentation tabindex=0></a><button aria-label=Close><img src=x.png></button>",
    "<img src=a.png alt='\u00a0'><img src=b.png title='\u00a0'>",
    "<img src=c.png srcset='c.png 1.5x, d.png 2x, e.png 1e3w'><img srcset='f.png 2x, g.png bogus, h.png 3.5x'>",
    "<div role='img button' aria-labelledby=n></div><p id=n><img src=n.png alt=Name></p><svg role=img></svg>",
    "<map><area href=/a hidden><area href=/b aria-label=B><area href=/c alt=' '></map><div hidden role=img></div>",
    "<img srcset='x.png, y.png'><a href=/><script>var words</script><style>p {}</style><img src=a.png></a>",
    "<html lang=de-AT><p lang=''><img src=a.png></p><div lang=' fr\n'><img src=b.png></div><img src=c.png></html>",
    "<div lang=ja><svg lang=en><foreignObject><img src=a.png></foreignObject></svg></div>",
]


# Pages on which scan.py decides otherwise than rules.js in DOMParser: rules.js counts hidden text (hidden,
# aria-hidden, <template>) as a link's name, where scan.py reads the tree as the accessible-name computation
# does; DOMParser parses with scripting off, so a <noscript> holds elements, where a browser's page (and
# scan.py) has text.
TWIN_DIFFERS = {
    "<a href=/><span hidden>Home</span><img src=a.png></a>",
    "<noscript><img src=x.png></noscript>",
}


def test_rules_js_decides_as_scan_py(browser):
    pages = scan_test_pages() + EXTRA_PAGES
    differing = set()
    assert len(pages) > 50
    page = browser.context.new_page()
    try:
        page.goto("about:blank")
        page.add_script_tag(path=str(EXTENSION_DIR / "rules.js"))
        for options in ({}, {"overwrite": True, "fillTitled": True}):
            found = page.evaluate(
                """([pages, options]) => pages.map(html => {
                    const doc = new DOMParser().parseFromString(html, 'text/html');
                    return AltTextRules.findImages(doc, options).map(({element, decision, reason}) =>
                        [element.localName, decision, reason, AltTextRules.sources(element),
                         AltTextRules.languageAt(element)]);
                })""",
                [pages, options],
            )
            flags = {"overwrite": bool(options), "fill_titled": bool(options)}
            for html, js in zip(pages, found):
                py = [[i.element, i.decision, i.reason, i.sources, i.lang] for i in scan(html.encode(), **flags).images]
                if js != py:
                    differing.add(html)
        assert {html for html in differing if not any(html.startswith(known) for known in TWIN_DIFFERS)} == set()
        assert all(any(html.startswith(known) for html in differing) for known in TWIN_DIFFERS)
    finally:
        page.close()


def test_manifest_names_files_that_ship():
    import json

    manifest = json.loads((EXTENSION_DIR / "manifest.json").read_text())
    assert manifest["manifest_version"] == 3 and manifest["version"] == __version__
    named = [manifest["background"]["service_worker"], manifest["action"]["default_popup"],
             *[js for script in manifest["content_scripts"] for js in script["js"]]]
    assert all((EXTENSION_DIR / name).is_file() for name in named)
    assert '"extension/*"' in (TESTS.parent / "pyproject.toml").read_text()
