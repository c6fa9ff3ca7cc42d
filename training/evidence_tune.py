"""Choose the evidence thresholds (model.json "evidence") on dev records, and write them into a bundle.

    python -m training.alt_eval B --data flickr8k:DIR --split dev --out runs/alt-dev.json
    python -m training.alt_eval B --tiny-coco ../shared/data/tiny_coco --half train2017 --out runs/alt-coco.json
    python -m training.evidence_tune runs/alt-dev.json runs/alt-coco.json --bundle B

Each record holds the model's caption, its confidence, what the detector and the ImageNet head saw
and the true objects, so every policy is judged by the runtime's own alttext.evidence.decide without
running a model again. Per class, a source's threshold is the lowest score at which its claims were
right often enough on these records (support: enough to let a caption's object stand; sure: enough
to name the object alone); classes seen too rarely keep the "*" default. Then the precision targets,
the number of objects named and the caption floor are chosen for the most useful coverage with
CHAIR-s within the limit.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from alttext.evidence import Evidence, Policy, decide
from alttext.objects import CATEGORIES
from training.alt_eval import judge, summary

GRID = [round(0.05 * i, 2) for i in range(2, 20)]  # 0.10 .. 0.95
MIN_CLAIMS = 8  # a class needs this many claims at a threshold before its own threshold is trusted


def read_records(paths: list[Path]) -> list[dict]:
    records = []
    for path in paths:
        records += [r for r in json.loads(path.read_text())["records"] if r.get("kind") in ("photo", "unknown", None)]
    return records


def class_thresholds(records: list[dict], source: str, precision: float, default: float) -> dict[str, float]:
    """Per category, the lowest grid score whose image-level claims were right at least `precision`
    of the time (and stay so at every higher score), where there were enough claims to say."""
    table = {"*": default}
    for category in CATEGORIES:
        pairs = [(score_of(r, source, category), category in r["truth"]) for r in records]
        chosen = None
        for t in reversed(GRID):
            claims = [right for score, right in pairs if score >= t]
            if len(claims) < MIN_CLAIMS:
                continue
            if sum(claims) / len(claims) < precision:
                break
            chosen = t
        if chosen is not None:
            table[category] = chosen
    return table


def score_of(record: dict, source: str, category: str) -> float:
    seen = record["evidence"][source].get(category)
    if seen is None:
        return 0.0
    return seen[0] if isinstance(seen, list) else seen


def judged(records: list[dict], policy: Policy) -> dict:
    out = []
    for r in records:
        verdict = decide(r["caption"], r["confidence"] or 0.0, Evidence.from_dict(r["evidence"]), policy)
        out.append({"alt": verdict.alt, "basis": verdict.basis, **judge(verdict.alt, set(r["truth"]))})
    return summary(out)


def candidates(records: list[dict]):
    for support_p, sure_p, max_objects, floor in itertools.product(
            (0.8, 0.85, 0.9, 0.95), (0.93, 0.96, 0.98), (1, 2, 3), (0.0, 0.1, 0.2)):
        yield Policy(class_thresholds(records, "detector", support_p, 0.6),
                     class_thresholds(records, "imagenet", support_p, 0.8),
                     class_thresholds(records, "detector", sure_p, 0.9),
                     class_thresholds(records, "imagenet", sure_p, 0.95),
                     {"*": 0.5}, max_objects, floor), (support_p, sure_p, max_objects, floor)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", type=Path, nargs="+", help="training.alt_eval --out files of dev photo sets")
    p.add_argument("--max-chair-s", type=float, default=0.025, help="CHAIR-s allowed on each record file")
    p.add_argument("--bundle", type=Path, help="write the chosen thresholds into this bundle's model.json")
    args = p.parse_args(argv)
    sets = [read_records([path]) for path in args.records]
    pooled = [r for one in sets for r in one]
    best = None
    for policy, knobs in candidates(pooled):
        figures = [judged(one, policy) for one in sets]
        ok = all(f["chair_s"] <= args.max_chair_s for f in figures)
        useful = sum(f["useful_coverage"] for f in figures) / len(figures)
        print(json.dumps({"knobs": knobs, "ok": ok, "useful": round(useful, 4),
                          "sets": [{k: f[k] for k in ("coverage", "useful_coverage", "chair_s",
                                                      "verified_caption_share")} for f in figures]}))
        if ok and (best is None or useful > best[0]):
            best = (useful, policy, knobs)
    if best is None:
        raise SystemExit(f"no policy keeps CHAIR-s within {args.max_chair_s} on every set")
    useful, policy, knobs = best
    print(json.dumps({"chosen": knobs, "useful": round(useful, 4), "evidence": policy.as_meta()}))
    if args.bundle:
        path = args.bundle / "model.json"
        meta = json.loads(path.read_text())
        meta["evidence"] = policy.as_meta()
        path.write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
