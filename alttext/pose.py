"""The bundle's pose model (MoveNet MultiPose Lightning, pose.onnx): pictures -> the people in them.

A third source of evidence, for the one category the other two know least well: the detector takes
hammers, mountains and cats' faces for people at scores where it is also often right, and the
ImageNet head has no class for a person at all. A body whose keypoints the pose model finds is a
person seen another way. The graph takes one RGB picture letterboxed into a square (int32 0..255)
and gives, for up to 6 bodies, 17 keypoints (y, x, score) then a box (ymin, xmin, ymax, xmax) and
the body's score. The "pose" section of model.json is documented in README.md ("The model bundle").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from alttext.detector import fit
from alttext.errors import ModelError
from alttext.sessions import open_part

FILE = "pose.onnx"
SECTION_KEYS = ("input_size", "resize", "keypoints", "bodies")


class PoseModel:
    def __init__(self, session: ort.InferenceSession, config: dict, digest: str):
        self.session = session
        self.config = config
        self.digest = digest  # of pose.onnx: caches of descriptions are keyed by it
        self.input = session.get_inputs()[0].name

    def bodies(self, pictures: list[Image.Image]) -> list[list[float]]:
        """Each picture's body scores, best first (the graph holds a batch of one)."""
        size = self.config["input_size"]
        found = []
        for picture in pictures:
            image, _ = fit(picture, size, self.config["resize"])
            output = self.session.run(None, {self.input: np.asarray(image, np.int32)[None]})[0][0]
            found.append(sorted((float(score) for score in output[:, -1]), reverse=True))
        return found


def load_pose(bundle_dir: Path, meta: dict, providers: list[str]) -> PoseModel | None:
    """The bundle's pose model; None when it has none (no pose.onnx, no "pose" section)."""
    part = open_part(bundle_dir, meta, FILE, "pose", SECTION_KEYS, providers)
    if part is None:
        return None
    session, config, digest = part
    shape = session.get_outputs()[0].shape
    if shape[1:] != [config["bodies"], config["keypoints"] * 3 + 5]:
        raise ModelError(f"{Path(bundle_dir) / FILE}: output {shape}, model.json's \"pose\" needs "
                         f"(1, {config['bodies']}, {config['keypoints'] * 3 + 5})")
    return PoseModel(session, config, digest)
