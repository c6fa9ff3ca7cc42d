"""Copies of the test bundle with one of the shipped bundle's optional parts added (its ONNX file and its
section of model.json), for the tests of how such a part loads or is refused."""

import json
import shutil
from pathlib import Path

from alttext.bundle import DEFAULT_MODEL


def with_part(bundle: Path, file: str, name: str, section: dict | None) -> Path:
    """The shipped `file` copied into `bundle`, and model.json's `name` section set to `section`
    (left out when None)."""
    shutil.copy(DEFAULT_MODEL / file, bundle / file)
    meta = json.loads((bundle / "model.json").read_text())
    if section is not None:
        meta[name] = section
    (bundle / "model.json").write_text(json.dumps(meta))
    return bundle
