"""Bytes from where the user points: files, stdin, and http(s) URLs with limits."""

from __future__ import annotations

import functools
import os
import queue
import stat
import sys
import threading
from pathlib import Path

import requests

from alttext import __version__
from alttext.errors import SourceError

USER_AGENT = f"alttext/{__version__} (offline alt-text tool; +https://pypi.org/project/alttext/)"
TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0  # for one file on a network or FUSE file system
LOCAL_FILESYSTEMS = frozenset(
    "ext2 ext3 ext4 xfs btrfs zfs f2fs tmpfs ramfs overlay vfat exfat ntfs3 jfs reiserfs squashfs iso9660".split()
)
MAX_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_file(path: Path, source: str | None = None, max_bytes: int = MAX_BYTES,
              timeout: float = READ_TIMEOUT_S) -> bytes:
    """The bytes of a regular file (never a FIFO, device or directory), read within `timeout` seconds."""
    source = source or str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores it
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise SourceError(source, _why(e)) from None
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(source, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(source, "not a regular file")
        if info.st_size > max_bytes:
            raise SourceError(source, f"file is larger than {max_bytes // (1024 * 1024)} MB")
        if _local_disk(info.st_dev):
            with os.fdopen(os.dup(descriptor), "rb") as handle:
                return _checked(_read_up_to(handle, info.st_size, max_bytes + 1), max_bytes, source)
        return _read_within(descriptor, info.st_size, max_bytes, timeout, source)
    finally:
        os.close(descriptor)


class _Readers:
    """Daemon threads that read files, so that a read that hangs (a dead network mount) costs its caller
    the time limit, not the run: the thread stays stuck, and the next read gets a new one."""

    def __init__(self):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.idle = 0
        self.lock = threading.Lock()

    def read(self, descriptor: int, size: int, limit: int, timeout: float) -> bytes | OSError | None:
        """The file's bytes, `limit` at most (or the error reading it); None when it took too long."""
        done: queue.SimpleQueue = queue.SimpleQueue()
        with self.lock:
            if self.idle:
                self.idle -= 1
            else:
                threading.Thread(target=self.work, daemon=True).start()
        self.jobs.put((os.dup(descriptor), size, limit, done))  # the caller may close its descriptor on a timeout
        try:
            return done.get(timeout=timeout)
        except queue.Empty:
            return None

    def work(self) -> None:
        while True:
            descriptor, size, limit, done = self.jobs.get()
            try:
                with os.fdopen(descriptor, "rb") as handle:
                    done.put(_read_up_to(handle, size, limit))
            except OSError as error:
                done.put(error)
            with self.lock:
                self.idle += 1


_readers = _Readers()


@functools.lru_cache(maxsize=64)
def _local_disk(device: int) -> bool:
    """Whether files on `device` are on a local disk (or in memory), where a read cannot hang: those are
    read directly; others (NFS, SMB, FUSE...) through a reader thread and a time limit."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 4 and fields[2] == wanted and "-" in fields:
                    return fields[fields.index("-") + 1] in LOCAL_FILESYSTEMS
    except OSError:
        pass
    return False


def _read_up_to(handle, size: int, limit: int) -> bytes:
    """Read a file of `size` bytes (it may have grown since), `limit` bytes at most. Reading exactly the
    size spares a buffer of `limit` bytes for every small page."""
    data = handle.read(min(size + 1, limit))
    if len(data) > size:
        data += handle.read(limit - len(data))
    return data


def _read_within(descriptor: int, size: int, max_bytes: int, timeout: float, source: str) -> bytes:
    data = _readers.read(descriptor, size, max_bytes + 1, timeout)
    if data is None:
        raise SourceError(source, f"reading took longer than {timeout:g} s")
    if isinstance(data, OSError):
        raise SourceError(source, _why(data))
    return _checked(data, max_bytes, source)


def _checked(data: bytes, max_bytes: int, source: str) -> bytes:
    if len(data) > max_bytes:
        raise SourceError(source, f"file is larger than {max_bytes // (1024 * 1024)} MB")
    return data


def _why(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)


def read_stdin(max_bytes: int = MAX_BYTES) -> bytes:
    data = sys.stdin.buffer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SourceError("-", f"stdin is larger than {max_bytes // (1024 * 1024)} MB")
    return data


def fetch_url(
    url: str,
    accept: tuple[str, ...] = ("image/",),
    max_bytes: int = MAX_BYTES,
    timeout: float = TIMEOUT_S,
    session: requests.Session | None = None,
) -> tuple[bytes, str]:
    """GET a URL; return (body, final URL). The content type must start with one of `accept`."""
    http = session or requests.Session()
    http.max_redirects = MAX_REDIRECTS
    try:
        with http.get(
            url, timeout=timeout, stream=True, headers={"User-Agent": USER_AGENT}
        ) as response:
            if response.status_code >= 400:
                raise SourceError(url, f"HTTP {response.status_code} {response.reason}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not content_type.startswith(accept):
                wanted = " or ".join(a.rstrip("/") for a in accept)
                raise SourceError(url, f"content type is {content_type or 'missing'}, not {wanted}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(url, f"larger than {max_bytes // (1024 * 1024)} MB")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise SourceError(url, f"larger than {max_bytes // (1024 * 1024)} MB")
            return bytes(body), response.url
    except requests.exceptions.Timeout:
        raise SourceError(url, f"timed out after {timeout:g} s") from None
    except requests.exceptions.TooManyRedirects:
        raise SourceError(url, f"more than {MAX_REDIRECTS} redirects") from None
    except requests.exceptions.RequestException as e:
        raise SourceError(url, f"could not fetch ({type(e).__name__})") from None
