"""Write a file so that a reader, or a crash, only ever sees the old bytes or the new ones, and rewrite
one in place as `sed -i` and rsync do: same owner, group and mode, and never over a change or a deletion."""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path

TEMP_SUFFIX = ".alttext.tmp"
STALE_S = 3600  # a temporary file this old is left by a run that was killed, not one still writing
_TEMPORARY = re.compile(r"\..+\.[^.]+" + re.escape(TEMP_SUFFIX))


class Refused(Exception):
    """The file was not written; the message says why, for a person."""


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename.

    The file keeps its mode (or gets `mode`, or the default for a new file).
    """
    if mode is None:
        mode = _current_mode(path)
    temporary = _temporary(path, data, mode)
    _rename(temporary, path)


def replace(path: Path, data: bytes, original: bytes, read_only: bool = False) -> None:
    """Rewrite the regular file `path`, read as `original`, with `data`: keeping its owner, group and
    mode, and refusing (Refused) a read-only file (unless `read_only`), a file with other hard links
    (a rename would split them), one deleted or changed since it was read, or an owner this user
    cannot give the new file."""
    before = _regular(path)
    if before.st_nlink > 1:
        raise Refused(f"has {before.st_nlink} hard links, which a rewrite would break: not written")
    if not read_only and not before.st_mode & 0o222:
        raise Refused("is read-only: not written (--write-read-only writes it)")
    temporary = _temporary(path, data, stat.S_IMODE(before.st_mode))
    try:
        _keep_owner(temporary, before)
        now = _regular(path)
        if (now.st_ino, now.st_dev) != (before.st_ino, before.st_dev) or path.read_bytes() != original:
            raise Refused("changed since it was read: not overwritten")
    except (Refused, OSError):
        temporary.unlink(missing_ok=True)
        raise
    _rename(temporary, path)


def clean_stale(directory: Path) -> int:
    """Remove the temporary files that killed runs left under `directory`; how many there were."""
    removed, limit = 0, time.time() - STALE_S
    for folder, _, files in os.walk(directory):
        for name in files:
            path = Path(folder, name)
            try:
                if _TEMPORARY.fullmatch(name) and path.lstat().st_mtime < limit and path.is_file():
                    path.unlink()
                    removed += 1
            except OSError:
                continue
    return removed


def _regular(path: Path) -> os.stat_result:
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise Refused("was deleted during the run: not recreated") from None
    if not stat.S_ISREG(info.st_mode):
        raise Refused("is no longer a regular file: not written")
    return info


def _keep_owner(temporary: Path, before: os.stat_result) -> None:
    now = temporary.lstat()
    if (now.st_uid, now.st_gid) == (before.st_uid, before.st_gid):
        return
    try:
        os.chown(temporary, before.st_uid, before.st_gid)
    except PermissionError:
        raise Refused(f"owned by {before.st_uid}:{before.st_gid}, which this user cannot keep: not written "
                      f"(run as its owner or as root)") from None
    os.chmod(temporary, stat.S_IMODE(before.st_mode))  # chown clears set-user-ID and set-group-ID bits


def _temporary(path: Path, data: bytes, mode: int) -> Path:
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _rename(temporary: Path, path: Path) -> None:
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _current_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk; not every OS allows it.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
