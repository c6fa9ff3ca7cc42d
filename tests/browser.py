"""Real Chromium for tests (the `chromium` fixture is in conftest.py) and axe-core run in it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = os.environ.get("ALTTEXT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def axe_script() -> Path | None:
    """axe-core as bundled by the dev extra's axe-playwright-python; None when it is not installed."""
    try:
        import axe_playwright_python
    except ImportError:
        return None
    return Path(axe_playwright_python.__file__).parent / "axe.min.js"


def axe_violations(page, rules: list[str] | None = None) -> list | None:
    """axe-core's violations on the page, [rule id, [each node's first CSS target]] (None without axe).
    `rules`: run only these."""
    script = axe_script()
    if script is None:
        return None
    page.add_script_tag(path=str(script))
    options = {"runOnly": {"type": "rule", "values": rules}} if rules else {}
    return page.evaluate("async options => (await axe.run(document, options)).violations"
                         ".map(v => [v.id, v.nodes.map(n => n.target[0])])", options)
