"""The model bundle (model.json + encoder.onnx + decoder.onnx, optionally detector.onnx) and the
device it runs on.

The format is documented in README.md ("The model bundle").
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from alttext.detector import Detector, load_detector
from alttext.errors import ModelError
from alttext.pose import PoseModel, load_pose
from alttext.sessions import open_session

FORMAT_VERSION = 1
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default"
DEVICES = ("auto", "cuda", "cpu")
PROVIDERS = {"cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"], "cpu": ["CPUExecutionProvider"]}


@dataclass
class Bundle:
    path: Path
    meta: dict
    encoder: ort.InferenceSession
    decoder: ort.InferenceSession
    device: str  # "cuda" or "cpu": where the sessions really run
    device_note: str  # one line for the user: where it runs, and why not on CUDA when it fell back
    detector: Detector | None = None  # the bundle's object detector, when it has one
    pose: PoseModel | None = None  # the bundle's pose model, when it has one

    @property
    def model_id(self) -> str:
        return f"{self.meta.get('name', 'model')}@{self.meta.get('provenance', {}).get('exported', '')}"


def model_dir(model: Path | None) -> Path:
    """--model, else $ALTTEXT_MODEL, else the default bundle shipped inside the package."""
    if model is not None:
        return Path(model)
    if os.environ.get("ALTTEXT_MODEL"):
        return Path(os.environ["ALTTEXT_MODEL"])
    return DEFAULT_MODEL


CONFIDENCE_WEIGHTS = ("intercept", "log_word_probability", "agreement")  # model.json "confidence"


def read_meta(path: Path) -> dict:
    if not (path / "model.json").is_file():
        hint = (
            "the default model is not installed; train and export one (README: 'Training') "
            "or point --model / ALTTEXT_MODEL at a bundle"
            if path == DEFAULT_MODEL
            else "not a model bundle (no model.json)"
        )
        raise ModelError(f"{path}: {hint}")
    try:
        meta = json.loads((path / "model.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path / 'model.json'}: unreadable ({e})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{path}: bundle format {meta.get('format_version')!r}, this alttext reads {FORMAT_VERSION}")
    for name in ("encoder.onnx", "decoder.onnx"):
        if not (path / name).is_file():
            raise ModelError(f"{path}: {name} is missing")
    confidence = meta.get("confidence")
    if confidence is not None and not (isinstance(confidence, dict) and all(
            isinstance(confidence.get(k), (int, float)) for k in CONFIDENCE_WEIGHTS)):
        raise ModelError(f"{path / 'model.json'}: \"confidence\" must give numbers for {', '.join(CONFIDENCE_WEIGHTS)}")
    return meta


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], str] | None:
    """An optional .npz part of a bundle: its arrays and a digest of the file, None when absent,
    ModelError when unreadable. Never unpickles."""
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable ({e})") from None
    return arrays, hashlib.sha256(data).hexdigest()[:12]


def why_no_cuda() -> str | None:
    """None when ONNX Runtime may run on CUDA here, else the reason in a few words."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA support (install onnxruntime-gpu)"
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists() or os.name == "nt"):
        return "no NVIDIA GPU found"
    return None


def _sessions(path: Path, providers: list[str]):
    return open_session(path / "encoder.onnx", providers), open_session(path / "decoder.onnx", providers)


def load_bundle(model: Path | None = None, device: str = "auto") -> Bundle:
    """The captioner's sessions, on CUDA when asked or available, and the detector and the pose model
    (when the bundle has them) on the same providers."""
    bundle = _load_captioner(model, device)
    bundle.detector = load_detector(bundle.path, bundle.meta, PROVIDERS[bundle.device])
    bundle.pose = load_pose(bundle.path, bundle.meta, PROVIDERS[bundle.device])
    return bundle


def _load_captioner(model: Path | None, device: str) -> Bundle:
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}: use auto, cuda or cpu")
    path = model_dir(model)
    meta = read_meta(path)
    if device == "cpu":
        return Bundle(path, meta, *_sessions(path, PROVIDERS["cpu"]), "cpu", "running on the CPU (asked for)")
    reason = why_no_cuda()
    if reason is None:
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
        encoder, decoder = _sessions(path, PROVIDERS["cuda"])
        if "CUDAExecutionProvider" in encoder.get_providers() and "CUDAExecutionProvider" in decoder.get_providers():
            return Bundle(path, meta, encoder, decoder, "cuda", "running on CUDA")
        reason = "ONNX Runtime could not start CUDA (CUDA 12+/cuDNN 9 libraries missing or unusable)"
    if device == "cuda":
        raise ModelError(f"--device cuda: {reason}")
    return Bundle(path, meta, *_sessions(path, PROVIDERS["cpu"]), "cpu", f"running on the CPU: {reason}")
