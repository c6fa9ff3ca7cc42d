"""training/ood_photos.py: the out-of-domain photo set's labels, its rebuild, and how alt_eval judges on it."""

import csv
import os
import struct
import zlib
from pathlib import Path

import pytest

from alttext.objects import CATEGORIES, objects_named
from alttext.wording import sentence
from training import ood_photos
from training.alt_eval import judge, named_in, ood_truth

ROOT = Path(__file__).resolve().parent.parent


def test_every_label_is_a_coco_category_and_every_caption_agrees_with_them():
    rows = ood_photos.read_labels()
    assert len(rows) >= 150
    assert len({(r["package"], r["path"]) for r in rows}) == len(rows)
    assert 0.4 < sum(r["split"] == "dev" for r in rows) / len(rows) < 0.6
    for r in rows:
        objects, unsure = set(ood_photos.names(r["objects"])), set(ood_photos.names(r["unsure"]))
        assert r["split"] == ood_photos.split(r["path"]), r["path"]
        assert objects | unsure <= set(CATEGORIES) and not objects & unsure, r["path"]
        assert r["version"] and r["caption1"] and r["caption2"], r["path"]
        for caption in (r["caption1"], r["caption2"]):
            assert set(objects_named(caption)) <= objects | unsure, (r["path"], caption)


def qt_resource(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version 1 Qt resource file whose root holds `files` (name: (bytes, zlib-compressed?))."""
    names, data, nodes = b"", b"", []
    for name, (blob, packed) in files.items():
        stored = struct.pack(">I", len(blob)) + zlib.compress(blob) if packed else blob
        nodes.append(struct.pack(">IHHHI", len(names), 1 if packed else 0, 0, 0, len(data)))
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        data += struct.pack(">I", len(stored)) + stored
    tree = struct.pack(">IHII", 0, 2, len(files), 1) + b"".join(nodes)
    offsets = struct.pack(">IIII", 1, 20, 20 + len(tree), 20 + len(tree) + len(data))  # version, tree, data, names
    return b"qres" + offsets + tree + data + names


def write_labels(path: Path, rows: list[dict]) -> Path:
    fields = ["package", "version", "path", "split", "objects", "unsure", "caption1", "caption2"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows({"version": "1.0", "split": ood_photos.split(r["path"]), **r} for r in rows)
    return path


def test_the_set_is_rebuilt_from_unpacked_packages_and_read_back_as_truth(tmp_path):
    out = tmp_path / "ood"
    package = out / "packages" / "photos-deb"  # as if unpacked already: nothing is fetched
    (package / "usr/share").mkdir(parents=True)
    (package / "usr/share/dog.jpg").write_bytes(b"dog bytes")
    (package / "usr/share/a.rcc").write_bytes(qt_resource({"cat.webp": (b"cat bytes", True),
                                                           "x.webp": (b"x", False)}))
    rows = [{"package": "photos-deb", "path": "usr/share/dog.jpg", "objects": "dog, sports ball", "unsure": "cat",
             "caption1": "A dog.", "caption2": "A dog and a ball."},
            {"package": "photos-deb", "path": "usr/share/a.rcc!/cat.webp", "objects": "cat", "unsure": "",
             "caption1": "A cat.", "caption2": "A kitten."}]
    ood_photos.main(["--out", str(out), "--labels", str(write_labels(tmp_path / "labels.tsv", rows))])

    truths = ood_truth(out, "dev") + ood_truth(out, "test")
    assert sorted((t.path.read_bytes(), t.objects, t.ignore, len(t.captions)) for t in truths) == [
        (b"cat bytes", {"cat"}, set(), 2), (b"dog bytes", {"dog", "sports ball"}, {"cat"}, 2)]
    assert len({t.path.name for t in truths}) == 2


def test_a_photo_missing_from_its_package_is_one_line_naming_the_package(tmp_path):
    out = tmp_path / "ood"
    (out / "packages" / "photos-deb").mkdir(parents=True)
    labels = write_labels(tmp_path / "labels.tsv", [{"package": "photos-deb", "path": "usr/share/gone.jpg",
                                                     "objects": "", "unsure": "", "caption1": "A.", "caption2": "B."}])
    with pytest.raises(SystemExit, match=r"^ood_photos: cannot take usr/share/gone.jpg from photos-deb 1.0 \("):
        ood_photos.main(["--out", str(out), "--labels", str(labels)])
    with pytest.raises(SystemExit, match="no set made by"):
        ood_truth(tmp_path / "nothing", "dev")


@pytest.mark.parametrize("count", [1, 2])
def test_every_sentence_of_objects_the_runtime_writes_is_read_back_as_its_objects(count):
    # "A pair of scissors." and "Two wine glasses." once named nothing, so no alt of them counted either way
    assert [c for c in CATEGORIES if objects_named(sentence([(c, count)])) != [c]] == []


def test_an_unsure_object_counts_neither_as_right_nor_as_wrong():
    assert judge("A dog and a cat.", {"dog"}, {"cat"}) == {"named": ["dog"], "hallucinated": [], "useful": True}
    assert judge("A cat.", {"dog"}, {"cat"}) == {"named": [], "hallucinated": [], "useful": False}
    assert judge("A cat.", {"dog"}) == {"named": ["cat"], "hallucinated": ["cat"], "useful": False}


def test_the_rebuilt_set_matches_its_labels():
    out = Path(os.environ.get("ALTTEXT_OOD", ROOT / ".cache" / "ood"))
    if not (out / "manifest.tsv").is_file():
        pytest.skip(f"no out-of-domain set at {out}: `python -m training.ood_photos --out {out}` rebuilds it "
                    "(or set ALTTEXT_OOD)")
    truths = ood_truth(out, "dev") + ood_truth(out, "test")
    assert len(truths) == len(ood_photos.read_labels())
    assert all(t.path.is_file() for t in truths)


def test_an_alt_naming_a_creature_is_judged_by_what_the_captions_name():
    captions = ["A red panda leaning on a branch.", "A small red animal in a tree."]
    truth = named_in(captions)
    assert truth == {"red panda"}  # not a bear, though CHAIR's synonyms take a panda for one
    assert judge("A red panda.", truth)["useful"]
    assert judge("A monkey.", truth) == {"named": ["monkey"], "hallucinated": ["monkey"], "useful": False}
    assert named_in(["Two macaques sit by a bowl.", "Monkeys and an orange."]) == {"monkey", "orange", "bowl"}
    assert named_in(["A green chameleon on a branch."]) == {"lizard"}
    assert named_in(["A hedgehog in the grass."]) == set()  # WordNet's porcupine, but not one
