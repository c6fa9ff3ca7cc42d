"""ONNX Runtime sessions for the parts of a model bundle, all opened the same way."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import onnxruntime as ort

from alttext.errors import ModelError


def threads() -> int:
    """Threads for each session's operators: OMP_NUM_THREADS when it is a positive number (Ray sets it to
    an actor's CPUs, so that actors sharing a machine do not each start a thread per core), else 0,
    ONNX Runtime's own choice of one per core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() else 0


def open_session(path: Path, providers: list[str]) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: a CUDA fallback is reported by us, in one line
    options.intra_op_num_threads = threads()
    # Idle operator threads sleep instead of spinning: the detector's session runs beside the decoder's,
    # and spinning threads of one took the cores from the other (1.2x end to end without, README "Speed").
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for broken graphs
        raise ModelError(f"{path}: cannot load ({str(e).splitlines()[0][:200]})") from None


def open_part(bundle_dir: Path, meta: dict, file: str, section: str, keys: tuple[str, ...],
              providers: list[str]) -> tuple[ort.InferenceSession, dict, str] | None:
    """An optional part of the bundle (its ONNX file and its section of model.json): its session, its
    section and the file's digest (what caches are keyed by); None when the bundle has neither."""
    path = Path(bundle_dir) / file
    config = meta.get(section)
    if config is None and not path.exists():
        return None
    if config is None:
        raise ModelError(f"{bundle_dir}: {file} without a \"{section}\" section in model.json")
    if not path.is_file():
        raise ModelError(f"{bundle_dir}: model.json has a \"{section}\" section but {file} is missing")
    missing = [key for key in keys if key not in config]
    if missing:
        raise ModelError(f"{Path(bundle_dir) / 'model.json'}: \"{section}\" lacks {', '.join(missing)}")
    return open_session(path, providers), config, hashlib.sha256(path.read_bytes()).hexdigest()[:12]
