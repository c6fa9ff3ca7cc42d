"""Measure the kinds alttext gives real images end to end (training/real_images.py's held-out half): the
describer's own kind, after the kind head, the decoration rules and OCR's evidence (an image taken for
text in which OCR reads no words is given the head's second kind), with per-kind precision and recall,
and the non-photos that got a photo caption written.

    python -m training.kinds_eval --data .cache/real --out runs/kinds_eval.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alttext.describe import make_describer
from training.kinds_train import print_table, read_manifest, table


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(".cache/real"))
    p.add_argument("--out", type=Path, default=Path("runs/kinds_eval.json"))
    p.add_argument("--model", help="bundle directory (default: the shipped one)")
    p.add_argument("--split", default="held", help="which half of the real set: held or train")
    args = p.parse_args(argv)
    try:
        rows = [r for r in read_manifest(args.data) if r[3] == args.split]
    except OSError as error:
        raise SystemExit(f"{args.data}: no real-image set (training.real_images writes one): {error}") from None
    describer = make_describer(args.model, "cpu")
    try:
        found = describer([(path, Path(path).read_bytes()) for path, *_ in rows])
    finally:
        describer.reader.close()
    images = [{"path": r[0], "truth": r[1], "kind": d.kind, "action": d.action, "alt": d.alt, "reason": d.reason}
              for r, d in zip(rows, found)]
    measured = [i for i in images if i["action"] != "error"]
    truth, said = [i["truth"] for i in measured], [i["kind"] for i in measured]
    captioned = [i for i in measured if i["truth"] != "photo" and i["kind"] == "photo" and i["alt"]]
    summary = {"images": len(measured), "not_decoded": len(images) - len(measured),
               "accuracy": round(sum(t == s for t, s in zip(truth, said)) / len(measured), 3),
               "non_photos_captioned": round(len(captioned) / sum(t != "photo" for t in truth), 3),
               "kinds": table(truth, said)}
    print_table(summary["kinds"])
    print(json.dumps({k: v for k, v in summary.items() if k != "kinds"}))
    for i in measured:
        if i["truth"] != i["kind"]:
            print(f"{i['truth']} -> {i['kind']}: {i['path']} ({i['reason']})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "images": images}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
