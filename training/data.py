"""Caption data sets, read into one shape: a list of Photo(path, split, captions).

Readers: the original Flickr8k layout (token file + split lists), the Karpathy split JSON
(dataset_flickr8k.json / dataset_flickr30k.json / dataset_coco.json), and COCO caption JSON
(captions_train2014.json and the like).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


@dataclass
class Photo:
    path: Path
    split: str
    captions: list[str] = field(default_factory=list)


def read_flickr8k(root: Path) -> list[Photo]:
    """The Flickr8k distribution: Flicker8k_Dataset/ and Flickr8k_text/ (token file, split lists)."""
    root = Path(root)
    text = root / "Flickr8k_text"
    images = root / "Flicker8k_Dataset"
    split_of = {}
    for split, name in (("train", "train"), ("dev", "dev"), ("test", "test")):
        for line in (text / f"Flickr_8k.{name}Images.txt").read_text().split():
            split_of[line.strip()] = split
    captions: dict[str, list[str]] = {}
    unknown = set()
    for line in (text / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        key, _, caption = line.partition("\t")
        name = key.rsplit("#", 1)[0]
        if not (images / name).is_file():
            unknown.add(name)  # the original's quirk: '...jpg.1#N' names no image
            continue
        captions.setdefault(name, []).append(caption.strip())
    if unknown:
        log.warning("skipped captions of %d names with no image: %s", len(unknown), sorted(unknown))
    return [
        Photo(images / name, split_of[name], caps)
        for name, caps in sorted(captions.items())
        if name in split_of
    ]


def read_karpathy(json_path: Path, images_root: Path) -> list[Photo]:
    """Karpathy's split JSON; 'restval' counts as train, 'val' as dev."""
    data = json.loads(Path(json_path).read_text())
    rename = {"train": "train", "restval": "train", "val": "dev", "test": "test"}
    photos = []
    for image in data["images"]:
        folder = Path(images_root) / image.get("filepath", "")
        captions = [s["raw"].strip() for s in image["sentences"]]
        photos.append(Photo(folder / image["filename"], rename[image["split"]], captions))
    return photos


def read_coco(json_path: Path, images_root: Path, split: str) -> list[Photo]:
    """COCO caption JSON (images + annotations), all of it in one split."""
    data = json.loads(Path(json_path).read_text())
    by_id = {image["id"]: Photo(Path(images_root) / image["file_name"], split) for image in data["images"]}
    for ann in data["annotations"]:
        by_id[ann["image_id"]].captions.append(ann["caption"].strip())
    return [p for p in by_id.values() if p.captions]


SPEC_USAGE = "use flickr8k:DIR, karpathy:JSON:IMAGES_DIR or coco:JSON:IMAGES_DIR:SPLIT[,...]"


def read_dataset(spec: str) -> list[Photo]:
    """`flickr8k:DIR`, `karpathy:JSON:IMAGES_DIR`, or `coco:JSON:IMAGES_DIR:SPLIT[,JSON:IMAGES_DIR:SPLIT...]`;
    SystemExit with one line saying why when it cannot be read."""
    try:
        return _read_dataset(spec)
    except OSError as error:
        raise SystemExit(f"{spec}: cannot read the data set ({error.strerror}: {error.filename})") from None
    except ValueError as error:  # a malformed spec or JSON file
        raise SystemExit(f"{spec}: {error}") from None


def _read_dataset(spec: str) -> list[Photo]:
    kind, _, rest = spec.partition(":")
    if kind == "flickr8k":
        return read_flickr8k(Path(rest))
    if kind == "karpathy":
        json_path, images = spec_fields(rest.split(":", 1), 2)
        return read_karpathy(Path(json_path), Path(images))
    if kind == "coco":
        photos = []
        for part in rest.split(","):
            json_path, images, split = spec_fields(part.split(":"), 3)
            photos += read_coco(Path(json_path), Path(images), split)
        return photos
    raise ValueError(f"unknown kind of data set: {SPEC_USAGE}")


def spec_fields(fields: list[str], count: int) -> list[str]:
    if len(fields) != count:
        raise ValueError(f"malformed data set spec: {SPEC_USAGE}")
    return fields
