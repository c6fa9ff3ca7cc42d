"""Choose the evidence thresholds (model.json "evidence") on dev records, and write them into a bundle.

    python -m training.alt_eval B --data flickr8k:DIR --split dev --out runs/alt-dev.json
    python -m training.alt_eval B --tiny-coco ../shared/data/tiny_coco --half train2017 --out runs/alt-coco.json
    python -m training.evidence_tune runs/alt-dev.json runs/alt-coco.json --bundle B

Each record holds the model's caption, its confidence, what the detector and the ImageNet head saw
and the true objects, so every policy is judged by the runtime's own alttext.evidence.decide without
running a model again. Per class, a source's threshold is the lowest score at which its claims were
right often enough on these records (support: enough to let a caption's object stand; sure: enough
to name the object alone); classes seen too rarely keep the "*" default, and a class in more than
half of a set's photos is judged as if in half. Then the precision targets, the number of objects
named and the caption floor are chosen for the most true alts (mean over the sets) with CHAIR-s
within the limit and enough of the alts whole captions (of two with as many true alts, the one
with fewer false ones). A true alt is useful (names an object in the photo and none that is not)
and, when it is a verified caption, not unrelated to the photo (its own CIDEr-D against the photo's
references under 0.1, as training.calibrate counts them: right objects, wrong scene).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from alttext.cider import CiderD
from alttext.evidence import Evidence, Policy, decide
from alttext.objects import CATEGORIES
from training.alt_eval import judge, share, summary
from training.vocab import tokenize

GRID = [round(0.05 * i, 2) for i in range(2, 20)]  # 0.10 .. 0.95
MIN_CLAIMS = 5  # a class needs this many claims at a threshold before its own threshold is trusted
# A class's precision is judged as if at most this share of photos showed it: Flickr8k's people are
# in 78% of its photos, which made a weak "person" look right; on other sites they need not be.
MAX_PRIOR = 0.5
UNRELATED_BELOW = 0.1


def read_records(path: Path) -> list[dict]:
    """The photos' records (others were not captioned), each with `unrelated`: is its caption unrelated?
    SystemExit with one line when the file is not a training.alt_eval report."""
    try:
        records = [r for r in json.loads(path.read_text())["records"] if r.get("kind") in ("photo", "unknown", None)]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"{path}: not a training.alt_eval --out report ({error})") from None
    scorer = CiderD({r["image"]: [tokenize(c) for c in r["references"]] for r in records})
    for r in records:
        r["unrelated"] = scorer.score(r["image"], tokenize(r["caption"] or "")) < UNRELATED_BELOW
        r["seen"] = Evidence.from_dict(r["evidence"])
    return records


def class_thresholds(sets: list[list[dict]], source: str, precision: float, default: float) -> dict[str, float]:
    """Per category, the highest over the photo sets of class_threshold (a set's base rates must not
    carry a class through another set: Flickr8k's people are everywhere, COCO's are not)."""
    table = {"*": default}
    for category in CATEGORIES:
        found = [t for records in sets if (t := class_threshold(records, source, category, precision, default))]
        if found:
            table[category] = max(found)
    return table


def class_threshold(records: list[dict], source: str, category: str, precision: float, default: float) -> float | None:
    """The lowest grid score whose image-level claims were right at least `precision` of the time (and
    stay so at every higher score), where there were enough claims to say; None where there were not.
    A class whose claims fell short before any score passed is held above that score (or the default).
    Right claims are weighed down where the class is in more than MAX_PRIOR of the photos."""
    pairs = [(score_of(r, source, category), category in r["truth"]) for r in records]
    weight = prior_weight(sum(right for _, right in pairs), len(pairs))
    chosen = None
    for t in reversed(GRID):
        claims = [right for score, right in pairs if score >= t]
        if len(claims) < MIN_CLAIMS:
            continue
        right = weight * sum(claims)
        if right / (right + len(claims) - sum(claims)) < precision:
            if chosen is None:
                chosen = max(default, round(t + 0.05, 2))
            break
        chosen = t
    return chosen


def prior_weight(shown: int, photos: int) -> float:
    """The weight of a right claim that brings the class's share of the photos down to MAX_PRIOR."""
    if shown == photos or shown / photos <= MAX_PRIOR:
        return 1.0
    return MAX_PRIOR / (1 - MAX_PRIOR) * (photos - shown) / shown


def score_of(record: dict, source: str, category: str) -> float:
    return record["seen"].score(source, category)


def judged(records: list[dict], policy: Policy) -> dict:
    out = []
    for r in records:
        verdict = decide(r["caption"], r["confidence"] or 0.0, r["seen"], policy)
        out.append({"alt": verdict.alt, "basis": verdict.basis, "unrelated": r["unrelated"],
                    **judge(verdict.alt, set(r["truth"]), set(r.get("ignore", ())))})
    verified = [r for r in out if r["basis"] == "verified caption"]
    true = [r for r in out if r["useful"] and not (r["basis"] == "verified caption" and r["unrelated"])]
    return {**summary(out), "verified_unrelated": share(sum(r["unrelated"] for r in verified), len(verified)),
            "true_coverage": share(len(true), len(out))}


def candidates(sets: list[list[dict]]):
    """(policy, its knobs) for each combination of precision targets, defaults for rarely seen classes,
    objects named, caption floor, the ImageNet head's animal probabilities that set a claim aside, the
    share of an animal's score that a rival animal needs to set it aside (and what the ImageNet head
    must give the animal to keep it), the detector's person score below which the pose model must
    find a body (and how sure it must be), the ImageNet head's probability at which a creature is
    named, and the defaults of the closer look's own tables (none: it is not used). The grid is
    narrowed to where earlier runs chose: one object named, a support default of 0.5 or 0.6, a sure
    default of 0.6, a caption floor of 0.35 (all of the 100 best policies of the last full grid, but
    for 4 with no floor), and each earlier rule at its shipped setting or off."""
    tables = {}

    def table(source: str, precision: float, default: float) -> dict[str, float]:
        key = (source, precision, default)
        if key not in tables:
            tables[key] = class_thresholds(sets, source, precision, default)
        return tables[key]

    def sources(precision: float, default: float, closer: float | None) -> dict[str, dict[str, float]]:
        # the pose model sees people only: its table has no default for the other categories
        pose = {c: t for c, t in table("pose", precision, default).items() if c == "person"}
        found = {"detector": table("detector", precision, default),
                 "imagenet": table("imagenet", precision, round(default + 0.2, 2)), "pose": pose}
        return found | ({"closer": table("closer", precision, closer)} if closer is not None else {})

    for knobs in itertools.product((0.85, 0.9, 0.95), (0.93, 0.96), (0.5, 0.6), (0.6,),
                                   (1,), (0.35,), (None, 0.7), (None, 0.8),
                                   ((None, 0.0), (0.5, 0.2)), ((None, 0.0), (0.5, 0.1)), (None, 0.4),
                                   ((None, None), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5))):
        support_p, sure_p, support_default, sure_default, max_objects, floor, animals, not_boxed, rivals, \
            needs_body, creature, (closer_support, closer_sure) = knobs
        yield Policy(sources(support_p, support_default, closer_support), sources(sure_p, sure_default, closer_sure),
                     {"*": 0.5}, max_objects, floor, animals, not_boxed, *rivals, *needs_body, creature), knobs


def rank(figures: list[dict]) -> tuple[float, float]:
    """The most true alts (mean over the sets) first; of two with as many, the fewer false ones."""
    true, false = (round(sum(f[key] for f in figures) / len(figures), 4) for key in ("true_coverage", "chair_s"))
    return true, -false


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", type=Path, nargs="+", help="training.alt_eval --out files of dev photo sets")
    p.add_argument("--judge-only", type=Path, nargs="+", default=[],
                   help="more record files that are judged (CHAIR-s limit, true alts) but set no class's threshold: "
                        "small out-of-domain sets, where a few claims of a class say little about it")
    p.add_argument("--max-chair-s", type=float, nargs="+", default=[0.025],
                   help="CHAIR-s allowed on each record file, records then --judge-only, in order (one value: on all)")
    p.add_argument("--min-verified-share", type=float, default=0.65,
                   help="share of the written alts that must be whole, verified captions, on the first record file "
                        "(Flickr8k's: captions of photos unlike the training photos are rarely verified)")
    p.add_argument("--bundle", type=Path, help="write the chosen thresholds into this bundle's model.json")
    args = p.parse_args(argv)
    sets = [read_records(path) for path in args.records + args.judge_only]
    limits = args.max_chair_s * len(sets) if len(args.max_chair_s) == 1 else args.max_chair_s
    if len(limits) != len(sets):
        p.error("give one --max-chair-s, or one for each record file")
    best = None
    for policy, knobs in candidates(sets[: len(args.records)]):
        figures = [judged(one, policy) for one in sets]
        ok = all(f["chair_s"] <= limit for f, limit in zip(figures, limits)) \
            and figures[0]["verified_caption_share"] >= args.min_verified_share
        ranked = rank(figures)
        print(json.dumps({"knobs": knobs, "ok": ok, "true": ranked[0], "sets": figures}))
        if ok and (best is None or ranked > best[0]):
            best = (ranked, policy, knobs)
    if best is None:
        raise SystemExit(f"no policy keeps CHAIR-s within {limits} with {args.min_verified_share} verified captions")
    (true, _), policy, knobs = best
    print(json.dumps({"chosen": knobs, "true": true, "evidence": policy.as_meta()}))
    if args.bundle:
        path = args.bundle / "model.json"
        meta = json.loads(path.read_text())
        meta["evidence"] = policy.as_meta()
        path.write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
