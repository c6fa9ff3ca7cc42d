"""How many photos get a true alt text, and how few a false one: the whole runtime decision (kinds,
caption, detector, ImageNet head, verification) over a photo set, scored against what the photos
show.

    python -m training.alt_eval alttext/models/default --data flickr8k:../shared/data/flickr8k --split test
    python -m training.alt_eval alttext/models/default --tiny-coco ../shared/data/tiny_coco --half val2017
    python -m training.alt_eval alttext/models/default --ood .cache/ood --ood-split dev

Prints coverage (share of photos given alt), useful coverage (the alt names at least one object in
the photo and none that is not), CHAIR-s and CHAIR-i of the written alts (Rohrbach et al., 2018),
the share of alts that are verified captions, how many alts name a creature (and are useful), how
many photos given no alt have a guess for a reader who asks (and how many of those are useful or
false), and the COCO caption scores of the model's sentences (`caption`, written or not). Truth: for Flickr8k,
the COCO objects its five captions name; for tiny COCO, its object boxes and the objects its
captions name; for the out-of-domain photos (training.ood_photos), the objects a person saw in each,
less those they were unsure of, which an alt may name or not without counting either way. In every
set, the creatures (animals COCO has no category for, training.creatures) that the captions name are
true too; an alt naming another is false.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from alttext.describe import apply_floor, make_describer
from alttext.errors import ModelError
from alttext.objects import objects_named
from training import ood_photos
from training.creatures import creatures_in, without_creatures
from training.data import read_dataset
from training.evaluate import coco_scores


@dataclass
class Truth:
    path: Path
    captions: list[str]
    objects: set[str]
    ignore: set[str] = field(default_factory=set)


def flickr8k_truth(spec: str, split: str) -> list[Truth]:
    photos = [p for p in read_dataset(spec) if p.split == split]
    return [Truth(p.path, p.captions, named_in(p.captions)) for p in photos]


def named_in(captions: list[str]) -> set[str]:
    """The COCO objects and the creatures the captions name."""
    return {o for c in captions for o in objects_named(without_creatures(c)) + creatures_in(c)}


def tiny_coco_truth(root: Path, half: str) -> list[Truth]:
    """The photos of one half of tiny COCO; truth is their boxes' categories and their captions' objects."""
    try:
        captions = json.loads((root / "annotations" / f"captions_{half}.json").read_text())
        instances = json.loads((root / "annotations" / f"instances_{half}.json").read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"{root}: cannot read tiny COCO's {half} annotations ({error})") from None
    names = {c["id"]: c["name"] for c in instances["categories"]}
    found = {im["id"]: Truth(root / half / im["file_name"], [], set()) for im in captions["images"]}
    for ann in captions["annotations"]:
        found[ann["image_id"]].captions.append(ann["caption"].strip())
    for ann in instances["annotations"]:
        if ann["image_id"] in found:
            found[ann["image_id"]].objects.add(names[ann["category_id"]])
    for truth in found.values():
        truth.objects |= named_in(truth.captions)
    return list(found.values())


def ood_truth(root: Path, split: str) -> list[Truth]:
    """One split of the out-of-domain photos; truth is the objects a person saw, `ignore` those they were unsure of."""
    return [Truth(Path(r["path"]), [r["caption1"], r["caption2"]],
                  set(ood_photos.names(r["objects"])) | set(creatures_in(r["caption1"] + ". " + r["caption2"])),
                  set(ood_photos.names(r["unsure"]))) for r in ood_photos.read_manifest(root, split)]


def judge(alt: str | None, objects: set[str], ignore: set[str] = frozenset()) -> dict:
    """One photo's alt against the truth: the objects it names (less those in `ignore`, which count
    neither way), which of them are not in the photo, and whether it is useful (names one that is,
    and none that is not)."""
    named = [o for o in objects_named(without_creatures(alt)) + creatures_in(alt) if o not in ignore] if alt else []
    wrong = [o for o in named if o not in objects]
    return {"named": named, "hallucinated": wrong, "useful": bool(alt) and bool(named) and not wrong}


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def summary(records: list[dict]) -> dict:
    written = [r for r in records if r["alt"]]
    mentions = sum(len(r["named"]) for r in written)
    return {
        "photos": len(records),
        "coverage": share(len(written), len(records)),
        "useful_coverage": share(sum(r["useful"] for r in records), len(records)),
        "chair_s": share(sum(bool(r["hallucinated"]) for r in written), len(written)),
        "chair_i": share(sum(len(r["hallucinated"]) for r in written), mentions),
        "verified_caption_share": share(sum(r["basis"] == "verified caption" for r in written), len(written)),
        "objects_share": share(sum(r["basis"] == "objects" for r in written), len(written)),
        **creature_alts(written),
    }


def creature_alts(written: list[dict]) -> dict:
    """How many written alts name a creature, and how many of those are useful."""
    naming = [r for r in written if creatures_in(r["alt"])]
    return {"creature_alts": len(naming), "creature_alts_useful": sum(r["useful"] for r in naming)}


def guesses(records: list[dict]) -> dict:
    """Of the photos given no alt, how many have a guess for a reader who asks, and how many of those
    are useful or name something not in the photo."""
    judged = [r["guess_judged"] for r in records if r.get("guess_judged")]
    return {"guesses": len(judged), "guesses_useful": sum(j["useful"] for j in judged),
            "guesses_false": sum(bool(j["hallucinated"]) for j in judged)}


def describe_all(describer, truths: list[Truth], floor: float, batch: int = 32) -> list[dict]:
    records = []
    for start in range(0, len(truths), batch):
        chunk = truths[start : start + batch]
        found = describer([(str(t.path), t.path.read_bytes()) for t in chunk])
        for truth, one in zip(chunk, found):
            one = apply_floor(one, floor)
            alt = one.alt if one.action == "alt" else None
            guess = one.guess if alt is None else None
            guessed = judge(guess, truth.objects, truth.ignore) if guess else None
            records.append({"image": truth.path.name, "alt": alt, "caption": one.caption, "basis": one.basis,
                            "guess": guess, "guess_judged": guessed,
                            "kind": one.kind, "confidence": one.confidence, "reason": one.reason,
                            "evidence": one.evidence, "truth": sorted(truth.objects), "references": truth.captions,
                            "ignore": sorted(truth.ignore), **judge(alt, truth.objects, truth.ignore)})
    return records


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="bundle directory")
    p.add_argument("--data", help="Flickr8k, as for training.train: flickr8k:DIR")
    p.add_argument("--split", default="dev", choices=["train", "dev", "test"])
    p.add_argument("--tiny-coco", type=Path, help="the tiny COCO directory (../shared/data/tiny_coco)")
    p.add_argument("--half", default="val2017", choices=["val2017", "train2017"])
    p.add_argument("--ood", type=Path, help="the out-of-domain photos rebuilt by training.ood_photos (.cache/ood)")
    p.add_argument("--ood-split", default="dev", choices=["dev", "test"])
    p.add_argument("--limit", type=int, default=0, help="only the first N photos")
    p.add_argument("--device", default="cpu", choices=["auto", "cuda", "cpu"])
    p.add_argument("--out", type=Path, help="JSON file for the figures and every photo's record")
    args = p.parse_args(argv)
    if sum(map(bool, (args.data, args.tiny_coco, args.ood))) != 1:
        p.error("give one photo set: --data flickr8k:DIR, --tiny-coco DIR or --ood DIR")

    if args.data:
        truths, name = flickr8k_truth(args.data, args.split), f"flickr8k {args.split}"
    elif args.tiny_coco:
        truths, name = tiny_coco_truth(args.tiny_coco, args.half), f"tiny_coco {args.half}"
    else:
        truths, name = ood_truth(args.ood, args.ood_split), f"ood {args.ood_split}"
    truths = truths[: args.limit] if args.limit else truths
    try:
        describer = make_describer(args.model, args.device)
    except ModelError as error:
        raise SystemExit(str(error)) from None
    describer.crop_every_photo = True  # records for training.evidence_tune: alts are the same either way
    records = describe_all(describer, truths, describer.default_min_confidence)
    made = {r["image"]: r["caption"] for r in records if r["caption"]}
    scores = coco_scores({t.path.name: t.captions for t in truths if t.path.name in made}, made) if made else {}
    report = {"model": describer.captioner.bundle.meta.get("name"),
              "set": name,
              **summary(records), **guesses(records), "captions_scored": len(made), "caption_scores": scores}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**report, "records": records}, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
