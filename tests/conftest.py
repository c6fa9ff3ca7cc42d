import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def flickr8k_dir() -> Path | None:
    """The Flickr8k copy named by ALTTEXT_FLICKR8K (.ci/run points it at ../shared/data/flickr8k)."""
    value = os.environ.get("ALTTEXT_FLICKR8K")
    return Path(value) if value and (Path(value) / "Flickr8k_text").is_dir() else None


@pytest.fixture(scope="session")
def flickr8k() -> Path:
    path = flickr8k_dir()
    if path is None:
        pytest.skip("Flickr8k not found: set ALTTEXT_FLICKR8K to the flickr8k directory (as .ci/run does)")
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A seeded random-weight bundle written by the export code (needs the `train` extra)."""
    pytest.importorskip("torch", reason="the train extra (torch) builds the test bundle")
    from export.export import random_bundle

    out = tmp_path_factory.mktemp("bundle") / "tiny"
    random_bundle(out, seed=0)
    return out


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    out = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, out)
    return out


@pytest.fixture
def private_cache(tmp_path, monkeypatch) -> Path:
    """The description cache in this test's own folder: no run sees another's captions."""
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, through Playwright (the dev extra); one per test module, since
    Playwright's sync API allows one at a time and test_extension starts its own."""
    from browser import CHROMIUM

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the dev extra)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (set ALTTEXT_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def fake_ocr(monkeypatch):
    """OCR's worker finds tests/fake_ocr.py."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
