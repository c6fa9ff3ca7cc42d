"""Rebuild the real-image evaluation set here, from Debian packages and tiny COCO (README: "Image kinds").

    python -m training.real_images --out .cache/real --tiny-coco ../shared/data/tiny_coco

training/real_images.tsv names each image (package, path inside it, kind, and for text images the
words it shows, read by a person). The packages are fetched with `apt-get download` and unpacked
with `dpkg-deb -x` under OUT/packages, nothing is installed; photos are read from tiny COCO where
they are. Writes OUT/manifest.tsv (path, kind, package, split, words): a fixed half of each kind is
"held" out for measuring, the rest is "train". Nothing of it is ever committed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from pathlib import Path

LABELS = Path(__file__).with_name("real_images.tsv")
TINY_COCO = "tiny_coco"


def read_labels(path: Path = LABELS) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def split(path: str) -> str:
    """Half held out, fixed by the path alone, so every run measures on the same images."""
    return "held" if hashlib.sha1(path.encode()).digest()[0] % 2 else "train"


def unpack(package: str, packages: Path, version: str | None = None) -> Path:
    """The package's files under packages/NAME, fetched (at `version` when given) and unpacked once."""
    root = packages / package
    if root.is_dir():
        return root
    debs = packages / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    wanted = f"{package}={version}" if version else package
    subprocess.run(["apt-get", "download", wanted], cwd=debs, check=True, stdout=subprocess.DEVNULL)
    deb = max(debs.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root) + ".part"], check=True)
    Path(str(root) + ".part").rename(root)
    return root


def build(out: Path, tiny_coco: Path) -> list[tuple[str, str, str, str, str]]:
    labels = read_labels()
    roots = {TINY_COCO: tiny_coco}
    for package in sorted({row["package"] for row in labels} - {TINY_COCO}):
        roots[package] = unpack(package, out / "packages")
    rows = []
    for row in labels:
        path = roots[row["package"]] / row["path"].lstrip("/")
        rows.append((str(path.resolve()), row["kind"], row["package"], split(row["path"]), row["words"]))
    missing = [r[0] for r in rows if not Path(r[0]).is_file()]
    if missing:
        sys.exit(f"real_images: {len(missing)} labelled images are not in their packages, e.g. {missing[0]}")
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(".cache/real"))
    p.add_argument("--tiny-coco", type=Path, default=Path("../shared/data/tiny_coco"))
    args = p.parse_args(argv)
    rows = build(args.out, args.tiny_coco)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "manifest.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
    print(f"wrote {args.out / 'manifest.tsv'}: {len(rows)} images")


if __name__ == "__main__":
    main()
