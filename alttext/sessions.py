"""ONNX Runtime sessions for the parts of a model bundle, all opened the same way."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from alttext.errors import ModelError


def open_session(path: Path, providers: list[str]) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: a CUDA fallback is reported by us, in one line
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for broken graphs
        raise ModelError(f"{path}: cannot load ({str(e).splitlines()[0][:200]})") from None
