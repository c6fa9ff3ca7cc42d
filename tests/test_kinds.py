"""Image kinds: the decoration rules, the kind head in a bundle, each kind's path through `caption`
and `fill`, and OCR that is missing, slow or broken."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from imagefiles import encode, gradient, write_all
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from typer.testing import CliRunner

import alttext.ocr
from alttext.cli import app
from alttext.describe import Description, flag_repeats, make_describer
from alttext.kinds import HEAD_FILE, KindHead, decoration_rule, parse_actions
from alttext.ocr import Reader, agreed, clean_line, join_row

TESTS = Path(__file__).resolve().parent
runner = CliRunner()


# ---------------------------------------------------------------- pictures of each kind


def photo(rng):
    noise = rng.random((60, 80, 3)) * 255
    picture = Image.fromarray(noise.astype(np.uint8)).resize((320, 240), Image.BICUBIC)
    return picture.filter(ImageFilter.GaussianBlur(rng.uniform(1, 3)))


def text(rng):
    picture = Image.new("RGB", (rng.integers(120, 220), rng.integers(36, 56)), tuple(rng.integers(0, 120, 3)))
    font = ImageFont.load_default(int(rng.integers(16, 26)))
    ImageDraw.Draw(picture).text((10, 6), "REGISTER", fill=(255, 255, 255), font=font)
    return picture


def screenshot(rng):
    picture = Image.new("RGB", (int(rng.integers(500, 700)), int(rng.integers(350, 450))), (245, 245, 245))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, picture.width, 26), fill=tuple(int(v) for v in rng.integers(40, 90, 3)))
    font = ImageFont.load_default(12)
    for y in range(40, picture.height - 20, 18):
        draw.text((12, y), "Host name: server.example.org  Port: 22", fill=(20, 20, 20), font=font)
    return picture


def icon(rng):
    side = int(rng.integers(24, 48))
    picture = Image.new("RGB", (side, side), (255, 255, 255))
    ImageDraw.Draw(picture).ellipse((3, 3, side - 4, side - 4), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return picture


def chart(rng):
    picture = Image.new("RGB", (400, 300), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    draw.line((40, 20, 40, 270, 390, 270), fill=(0, 0, 0), width=2)
    for i, height in enumerate(rng.integers(30, 240, 6)):
        draw.rectangle((60 + 55 * i, 270 - int(height), 95 + 55 * i, 269), fill=(50, 90, 200))
    return picture


def decoration(rng):
    return gradient((int(rng.integers(40, 80)), int(rng.integers(5, 10))))


def art(rng):
    picture = Image.new("RGB", (300, 300), (250, 240, 220))
    draw = ImageDraw.Draw(picture)
    for _ in range(12):
        x, y, r = (int(v) for v in rng.integers(0, 300, 3) // (1, 1, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return picture


MAKERS = {"photo": photo, "text": text, "screenshot": screenshot, "icon": icon, "chart": chart,
          "decoration": decoration, "art": art}


def pictures(seed: int, per_kind: int) -> dict[str, list[Image.Image]]:
    rng = np.random.default_rng(seed)
    return {kind: [make(rng) for _ in range(per_kind)] for kind, make in MAKERS.items()}


@pytest.fixture(scope="module")
def kinds_bundle(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny bundle with a head trained here, on 6 generated pictures of each kind."""
    from alttext.bundle import load_bundle
    from alttext.captioner import Captioner
    from alttext.kinds import KINDS, STAT_NAMES
    from training.kinds_train import features, train_mlp

    folder = tmp_path_factory.mktemp("kinds")
    bundle = folder / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    paths, labels = [], []
    for kind, made in pictures(seed=1, per_kind=6).items():
        for i, picture in enumerate(made):
            paths.append(str(folder / f"{kind}{i}.png"))
            picture.save(paths[-1])
            labels.append(KINDS.index(kind))
    captioner = Captioner(load_bundle(bundle, "cpu"))
    found = features(paths, captioner)
    arrays = train_mlp(np.concatenate([found["pooled"], found["stats"]], axis=1), np.array(labels), len(KINDS),
                       hidden=32, epochs=300, seed=0)
    np.savez(bundle / HEAD_FILE, labels=np.array(KINDS), stats=np.array(STAT_NAMES), encoder=np.array("lite0"),
             photo_threshold=np.array(0.5, np.float32), **arrays)
    return bundle


@pytest.fixture
def samples(tmp_path) -> dict[str, Path]:
    """One new picture of each kind (another seed than the head saw), a 1x1 spacer and a 2 px rule."""
    made = {f"{kind}.png": encode(p[0], "PNG") for kind, p in pictures(seed=7, per_kind=1).items()}
    made["spacer.gif"] = encode(Image.new("RGB", (1, 1), (255, 255, 255)), "GIF")
    made["rule.png"] = encode(gradient((2, 120)), "PNG")
    return {Path(name).stem: path for name, path in zip(made, write_all(tmp_path / "imgs", made))}


@pytest.fixture
def fake_ocr(monkeypatch):
    """OCR through tests/fake_ocr.py; returns a function that picks which of its engines."""
    monkeypatch.setenv("PYTHONPATH", str(TESTS))

    def use(name: str) -> None:
        monkeypatch.setattr(alttext.ocr, "ENGINE", f"fake_ocr:{name}")

    use("fixed")
    return use


def caption_json(bundle: Path, *args) -> tuple[int, dict]:
    result = runner.invoke(app, ["caption", "--json", "--model", str(bundle), *map(str, args)])
    records = json.loads(result.stdout)
    return result.exit_code, {Path(r["source"]).stem: r for r in records}


# ---------------------------------------------------------------- rules and clean-up


@pytest.mark.parametrize("size,name,colour_count", [((1, 1), "a.png", 2), ((2, 300), "rule.png", 2),
                                                    ((500, 1), "line.png", 2), ((50, 40), "flat.png", 1),
                                                    ((20, 20), "spacer.gif", 2), ((20, 20), "clear_2.png", 2)])
def test_unmistakable_decoration(size, name, colour_count):
    picture = gradient(size) if colour_count == 2 else Image.new("RGB", size, (200, 10, 10))
    assert decoration_rule(picture, f"https://example.org/img/{name}?v=3") is not None


@pytest.mark.parametrize("size,name", [((64, 48), "photo.png"), ((64, 48), "transparent.png"),
                                       ((3, 40), "slice.png"), ((64, 48), "spacers-of-the-world.jpg")])
def test_not_unmistakable(size, name):
    assert decoration_rule(gradient(size), name) is None


def test_ocr_lines_are_cleaned():
    assert join_row([[47, 9, 157, 39, "GISTER", 0.99], [18, 11, 62, 37, "RE", 0.99]]).strip() == "REGISTER"
    assert clean_line(" CALL  FOR PAPERS | ") == "Call for papers"
    assert clean_line("SSH") == "SSH"
    lines = [[0, 40, 50, 60, "second", 0.9], [0, 0, 50, 20, "First line", 0.9], [0, 80, 9, 90, "x", 0.1]]
    both = {"rapidocr": lines, "tesseract": [[0, 0, 1, 1, w, 0.5] for w in ("first", "Line", "second")]}
    assert (agreed(both).text, agreed(both).title) == ("First line second", "First line")
    assert agreed({"rapidocr": [[0, 0, 5, 5, "~~", 0.99]], "tesseract": []}).text == ""
    long = {"rapidocr": [[0, 0, 5, 5, "word " * 60, 0.99]], "tesseract": [[0, 0, 5, 5, "word", 0.9]]}
    assert len(agreed(long).text) <= 125


def test_ocr_writes_only_words_both_engines_read():
    rapid = [[0, 0, 90, 20, "It'salongway", 0.95], [0, 30, 90, 50, "Layers, Channels 口", 0.9]]
    tesseract = [[0, 0, 1, 1, w, 0.8] for w in ("It's", "a", "long", "way", "&J", "Layers,", "Channels", "|x")]
    reading = agreed({"rapidocr": rapid, "tesseract": tesseract})
    # Tesseract's spaces where RapidOCR ran words together; its extra junk and RapidOCR's stray CJK letter
    # (its model reads Chinese) never written
    assert (reading.text, reading.title) == ("It's a long way Layers, Channels", "It's a long way")
    misread = agreed({"rapidocr": [[0, 0, 90, 20, "CALLFoR APERS", 0.9]],
                      "tesseract": [[0, 0, 1, 1, w, 0.9] for w in ("CALL", "FOR", "PAPERS")]})
    assert (misread.text, misread.title, misread.guess) == ("", "", "CALLFoR APERS")
    # a word one engine read alone is not confirmed, nor is a part of a longer word
    assert agreed({"rapidocr": [[0, 0, 9, 9, "Test", 0.9]], "tesseract": [[0, 0, 9, 9, "Test1", 0.9]]}).text == ""
    # a title bar's close button read as a letter is not part of the title
    bar = agreed({"rapidocr": [[0, 0, 90, 20, "Print X", 0.9]],
                  "tesseract": [[0, 0, 1, 1, w, 0.9] for w in ("Print", "X")]})
    assert (bar.title, bar.text) == ("Print", "Print X")
    # nothing from Tesseract (not installed, or read nothing): silence
    assert agreed({"rapidocr": [[0, 0, 9, 9, "REGISTER", 0.99]]}).text == ""


def layouts(block: list, sparse: list, line: tuple = ()) -> dict:
    """Tesseract's words in three page layouts ([word, confidence] each), beside RapidOCR's misreading."""
    return {"rapidocr": [[0, 0, 90, 20, "GNUFDL REEDSE", 0.9]],
            "tesseract_block": [[0, 0, 1, 1, w, c] for w, c in block],
            "tesseract_line": [[0, 0, 1, 1, w, c] for w, c in line],
            "tesseract_sparse": [[0, 0, 1, 1, w, c] for w, c in sparse]}


def test_tesseract_alone_writes_only_words_two_layouts_read_confidently():
    words = [("GNU", 0.95), ("FDL", 0.96), ("LICENSE", 0.95)]
    alone = agreed(layouts([("©)", 0.4), *words], words))  # a symbol alone is no word
    assert (alone.text, alone.alone, alone.guess) == ("Gnu fdl license", True, "")
    assert agreed(layouts(words, [], line=words)).text == "Gnu fdl license"  # any two of the three layouts
    for block, sparse in ((words, words[:2]), (words, [*words[:2], ("LICENCE", 0.95)]),
                          (words, [*words[:2], ("LICENSE", 0.85)]), ([("A", 0.96)], [("A", 0.96)])):
        found = agreed(layouts(block, sparse))  # one layout missed or misread a word, was unsure, or one letter
        assert (found.text, found.alone, found.guess) == ("", False, "Gnufdl reedse")
    # where both engines agree, theirs is written
    both = agreed({**layouts(words, words), "rapidocr": [[0, 0, 9, 9, "GNU", 0.9]],
                   "tesseract": [[0, 0, 1, 1, "GNU", 0.9]]})
    assert (both.text, both.alone) == ("GNU", False)


def test_kind_actions_are_checked():
    assert parse_actions(["art=caption"])["art"] == "caption"
    for bad in ("art=poem", "cat=caption", "art"):
        with pytest.raises(ValueError):
            parse_actions([bad])


# ---------------------------------------------------------------- caption


def test_each_kind_through_caption(kinds_bundle, samples, fake_ocr):
    code, records = caption_json(kinds_bundle, *samples.values())
    assert code == 0, records
    assert {name: r["kind"] for name, r in records.items()} == {
        "photo": "photo", "text": "text", "screenshot": "screenshot", "icon": "icon", "chart": "chart",
        "decoration": "decoration", "art": "art", "spacer": "decoration", "rule": "decoration"}
    assert records["photo"]["action"] in ("alt", "review") and "confidence" in records["photo"]
    assert records["text"] == {"source": str(samples["text"]), "action": "alt", "alt": "Network settings OK",
                               "kind": "text", "reason": "an image of text: its words, read alike by two OCR engines"}
    assert records["screenshot"]["action"] == "review"
    assert records["screenshot"]["alt"] == "Screenshot of Network settings."
    for name in ("icon", "chart", "art", "decoration"):
        assert records[name]["action"] == "review" and "alt" not in records[name] and records[name]["reason"]
    assert records["spacer"]["action"] == "alt" and records["spacer"]["alt"] == ""
    assert "1×1" in records["spacer"]["reason"]


def test_kind_actions_can_be_overridden(kinds_bundle, samples, fake_ocr):
    code, records = caption_json(kinds_bundle, "--kind-action", "icon=caption", "--kind-action", "text=review",
                                 "--kind-action", "decoration=review", samples["icon"], samples["text"],
                                 samples["spacer"])
    assert code == 0
    assert "confidence" in records["icon"] and records["icon"]["kind"] == "icon"
    assert records["text"]["action"] == "review" and "alt" not in records["text"]
    assert records["spacer"]["action"] == "review"
    bad = runner.invoke(app, ["caption", "--model", str(kinds_bundle), "--kind-action", "icon=poem", "x.png"])
    assert bad.exit_code == 2 and "no action 'poem'" in bad.output


def test_without_a_head_only_the_rules_decide(tiny_bundle, samples):
    code, records = caption_json(tiny_bundle, samples["text"], samples["spacer"])
    assert code == 0
    assert records["text"]["kind"] == "unknown" and "kinds.npz" in records["text"]["reason"]
    assert "confidence" in records["text"]
    assert records["spacer"]["alt"] == "" and records["spacer"]["kind"] == "decoration"


def test_a_broken_head_is_a_clear_error(bundle_copy, samples):
    (bundle_copy / HEAD_FILE).write_bytes(b"not numpy")
    result = runner.invoke(app, ["caption", "--model", str(bundle_copy), str(samples["photo"])])
    assert result.exit_code == 1 and "kinds.npz: unreadable" in result.output


# ---------------------------------------------------------------- OCR missing, slow, broken


def test_ocr_missing(kinds_bundle, samples, monkeypatch):
    monkeypatch.setattr(alttext.ocr, "ENGINE", "no_such_ocr_engine:read")
    code, records = caption_json(kinds_bundle, samples["text"], samples["screenshot"])
    assert code == 0
    assert records["text"]["action"] == "review" and "OCR is not installed" in records["text"]["reason"]
    assert "alt" not in records["screenshot"] and "OCR is not installed" in records["screenshot"]["reason"]


def test_ocr_out_of_cpu_time_ends_the_worker_and_flags(kinds_bundle, samples, fake_ocr):
    fake_ocr("spinning")
    started = time.monotonic()
    code, records = caption_json(kinds_bundle, "--ocr-timeout", "0.5", samples["text"], samples["screenshot"])
    assert code == 0 and time.monotonic() - started < 60
    for name in ("text", "screenshot"):
        assert "OCR ran out of time (reading took over 0.5 CPU seconds)" in records[name]["reason"], records[name]
        assert records[name]["action"] == "review" and "alt" not in records[name]  # nothing else written instead


def test_waiting_is_not_spending(fake_ocr):
    """A busy machine makes OCR wait, not work: a short budget of CPU time gives the same words after a
    long wait as at once, so the output does not depend on the load."""
    quick, waiting = Reader(timeout_s=0.5), Reader(timeout_s=0.5)
    fake_ocr("sleepy")
    waiting.engine = alttext.ocr.ENGINE
    try:
        slow = waiting.read(gradient())
        fake_ocr("fixed")
        quick.engine = alttext.ocr.ENGINE
        assert slow == quick.read(gradient()) and slow.text == "Network settings OK" and slow.failure is None
    finally:
        quick.close()
        waiting.close()


def test_a_misread_word_flags_instead_of_writing(kinds_bundle, samples, fake_ocr):
    fake_ocr("misread")
    code, records = caption_json(kinds_bundle, samples["text"], samples["screenshot"])
    assert code == 0
    assert records["text"]["action"] == "review" and "alt" not in records["text"]
    assert "did not read every word alike" in records["text"]["reason"]
    assert "'Network settings OK'" in records["text"]["reason"]  # the guess, for the person, not written
    assert records["screenshot"]["alt"] == "Screenshot." and "top line" in records["screenshot"]["reason"]


def test_the_heads_second_kind_is_never_photo():
    eye = np.eye(4, dtype=np.float32)
    head = KindHead({"labels": np.array(["photo", "text", "icon", "art"]), "mean": np.zeros(4), "std": np.ones(4),
                     "w1": eye, "b1": np.zeros(4), "w2": eye, "b2": np.zeros(4),
                     "photo_threshold": np.array(0.5)}, "test")
    logits = np.array([[2.5, 3.0, 1.0, 2.0], [9.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    found = head.classify(logits, np.zeros((3, 0), np.float32))
    assert [(k.name, k.second) for k in found] == [("text", "art"), ("photo", "art"), ("text", "icon")]
    assert found[0].instead().note() == \
        "a drawing or render (taken for an image of text first, but OCR read no words in it)"


def test_text_in_which_ocr_reads_no_words_is_given_the_heads_second_kind(kinds_bundle, samples, fake_ocr):
    fake_ocr("blank")
    describer = make_describer(kinds_bundle)
    try:
        [found] = describer([(str(samples["text"]), samples["text"].read_bytes())])
    finally:
        describer.reader.close()
    assert found.kind not in ("text", "photo") and found.action == "review" and found.alt is None
    assert "taken for an image of text first, but OCR read no words in it" in found.reason


def test_the_page_language_reaches_ocr_and_the_wording(kinds_bundle, samples, fake_ocr):
    fake_ocr("echo_language")
    describer = make_describer(kinds_bundle)
    try:
        found = describer([(str(samples[k]), samples[k].read_bytes(), lang)
                           for k, lang in (("text", "de-AT"), ("screenshot", "de"), ("screenshot", "ko"),
                                           ("screenshot", None))])
    finally:
        describer.reader.close()
    assert found[0].alt == "lang de-AT"  # the language the engines were asked for
    assert found[1].alt == "Bildschirmfoto: lang de."
    assert found[2].action == "review" and found[2].alt is None and "'ko'" in found[2].reason
    assert found[3].alt == "Screenshot of lang None."  # no language: as before, English


def test_repeated_screenshot_alts_on_a_page_are_flagged():
    same = [Description(f"{n}.png", "review", "Screenshot of Font info.", kind="screenshot", reason="r")
            for n in (1, 2)]
    other = Description("3.png", "review", "Screenshot of Print.", kind="screenshot", reason="r")
    text = Description("4.png", "alt", "Font info", kind="text", reason="r")
    marked = flag_repeats([*same, other, text])
    assert all("2 screenshots on this page got this same alt" in d.reason for d in marked[:2])
    assert marked[2:] == [other, text]


def test_ocr_that_cannot_start(fake_ocr):
    fake_ocr("broken")
    reader = Reader(timeout_s=5)
    first = reader.read(gradient())
    assert "OCR could not start: RuntimeError: no models here" in first.failure
    assert reader.read(gradient()).failure == first.failure and not reader.available


def real_ocr() -> Reader:
    pytest.importorskip("rapidocr_onnxruntime", reason="RapidOCR is not installed (README: 'Image kinds')")
    pytest.importorskip("pytesseract", reason="pytesseract is not installed (README: 'Image kinds')")
    if not shutil.which("tesseract"):
        pytest.skip("Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng, README: Image kinds)")
    return Reader(timeout_s=120)


def test_real_ocr_reads_a_button_and_another_script_only_in_its_language():
    reader = real_ocr()
    button = Image.new("RGB", (200, 50), (30, 90, 200))
    ImageDraw.Draw(button).text((22, 10), "REGISTER", fill="white", font=ImageFont.load_default(26))
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    title = Image.new("RGB", (320, 60), (255, 255, 255))
    if dejavu.is_file():  # RapidOCR's model has no Cyrillic: it reads Latin look-alikes ("AHHa KapeHMHa");
        # Tesseract in Russian reads it, alike in two page layouts, and is written alone
        ImageDraw.Draw(title).text((10, 10), "Анна Каренина", fill="black", font=ImageFont.truetype(str(dejavu), 32))
    try:
        assert reader.read(button).text == "Register"
        assert reader.read(button, "en-GB").text == "Register"
        if dejavu.is_file():
            assert reader.read(title).text == ""  # read as English: nothing both engines or both layouts agree on
            assert reader.read(title, "ru").text == "Анна Каренина"
        missing = reader.read(button, "tlh")
        assert missing.text == "" and "no OCR language pack for 'tlh'" in missing.failure
    finally:
        reader.close()


# ---------------------------------------------------------------- fill


def test_each_kind_through_fill(kinds_bundle, samples, fake_ocr, tmp_path, monkeypatch):
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path / "cache"))
    site = samples["photo"].parent
    (site / "index.html").write_text("".join(f'<img src="{p.name}">\n' for p in samples.values()))
    report, review = tmp_path / "report.json", tmp_path / "review.html"
    result = runner.invoke(app, ["fill", str(site), "--model", str(kinds_bundle), "--report", str(report),
                                 "--review", str(review)])
    assert result.exit_code == 0, result.output
    page = (site / "index.html").read_text()
    assert '<img src="rule.png" alt="" data-alt-generated="alttext">' in page
    assert '<img src="spacer.gif" alt="" data-alt-generated="alttext">' in page
    assert '<img src="text.png" alt="Network settings OK" data-alt-generated="alttext">' in page
    reviewed = 'alt="Screenshot of Network settings." data-alt-generated="alttext review"'
    assert f'<img src="screenshot.png" {reviewed}>' in page
    for name in ("icon", "chart", "art", "decoration"):
        assert f'<img src="{name}.png">' in page
    records = {Path(r["source"]).stem: r for r in json.loads(report.read_text())}
    assert records["text"]["action"] == "filled" and records["text"]["kind"] == "text"
    assert "read alike by two OCR engines" in records["text"]["reason"]
    assert records["icon"]["action"] == "review" and "icon or logo" in records["icon"]["reason"]
    assert records["rule"]["action"] == "filled" and records["rule"]["alt"] == ""
    assert records["rule"]["kind"] == "decoration" and "2×120" in records["rule"]["reason"]
    # a lone 1x1 image is a spacer, not a lazy-load placeholder: alt="" by the decoration rule
    assert records["spacer"]["action"] == "filled" and records["spacer"]["alt"] == ""
    assert records["spacer"]["kind"] == "decoration"
    shown = review.read_text()
    assert "Kind: chart" in shown and "a chart or diagram" in shown
    assert "kinds: " in result.output
