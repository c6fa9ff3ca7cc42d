"""fill treats the files it rewrites as `sed -i` and rsync do: real files, links, owners and a real FIFO."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_describer import FakeDescriber, caption_of
from imagefiles import encode, gradient

from alttext import atomic, fill
from alttext.errors import SourceError
from alttext.fetch import _read_within, read_file
from alttext.report import Progress

TESTS = Path(__file__).resolve().parent
PNG = encode(gradient(), "PNG")
PAGE = b"<p>Hello</p><img src=a.png>"
FILLED = b'<p>Hello</p><img src=a.png alt="' + caption_of(PNG).encode() + b'" data-alt-generated="alttext">'


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def site(tmp_path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "a.png").write_bytes(PNG)
    for name in ("p.html", "q.html"):
        (root / name).write_bytes(PAGE)
    return root


def run(targets, describer=None, **options) -> fill.Run:
    progress = Progress(stream=open(os.devnull, "w"))
    return fill.fill([str(t) for t in targets], describer or FakeDescriber(), fill.Options(**options), progress)


def reasons(result: fill.Run) -> dict[str, str]:
    return {Path(f.source).name: f.reason for f in result.failures}


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another owner needs root (CI runs as root)")
def test_owner_group_and_mode_are_kept(site):
    page = site / "p.html"
    os.chown(page, 65534, 65534)  # nobody:nogroup
    page.chmod(0o640)
    assert not run([site]).failed
    info = page.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)
    assert page.read_bytes() == FILLED


def test_mode_is_kept(site):
    (site / "p.html").chmod(0o604)
    run([site])
    assert stat.S_IMODE((site / "p.html").stat().st_mode) == 0o604
    assert (site / "p.html").read_bytes() == FILLED


def test_read_only_pages_are_refused_unless_asked(site):
    page = site / "p.html"
    page.chmod(0o444)
    result = run([site])
    assert reasons(result) == {"p.html": "is read-only: not written (--write-read-only writes it)"}
    assert page.read_bytes() == PAGE and (site / "q.html").read_bytes() == FILLED
    assert not run([site], write_read_only=True).failures
    assert page.read_bytes() == FILLED and stat.S_IMODE(page.stat().st_mode) == 0o444


def test_hard_linked_pages_are_not_split(site):
    os.link(site / "p.html", site / "linked.html.bak")
    result = run([site])
    assert reasons(result) == {"p.html": "has 2 hard links, which a rewrite would break: not written"}
    assert (site / "p.html").read_bytes() == PAGE and os.path.samefile(site / "p.html", site / "linked.html.bak")


class Meddling(FakeDescriber):
    """Does something to a page while its images are being described."""

    def __init__(self, meddle):
        super().__init__()
        self.meddle = meddle

    def __call__(self, items):
        self.meddle()
        return super().__call__(items)


def test_a_page_deleted_during_the_run_is_not_recreated(site):
    result = run([site], Meddling(lambda: (site / "p.html").unlink()))
    assert reasons(result) == {"p.html": "was deleted during the run: not recreated"}
    assert not (site / "p.html").exists() and (site / "q.html").read_bytes() == FILLED


def test_a_page_changed_during_the_run_keeps_the_change(site):
    edited = b"<p>A person's edit</p><img src=a.png>"
    result = run([site], Meddling(lambda: (site / "p.html").write_bytes(edited)))
    assert reasons(result) == {"p.html": "changed since it was read: not overwritten"}
    assert (site / "p.html").read_bytes() == edited
    assert [p.name for p in site.iterdir() if p.name.startswith(".")] == []


def test_stale_temporary_files_of_killed_runs_are_removed(site):
    stale = site / ".p.html.k1ll3d_x.alttext.tmp"
    fresh = site / ".q.html.wr1t1ng.alttext.tmp"
    other = site / ".notes.tmp"
    for path in (stale, fresh, other):
        path.write_bytes(b"half")
    old = time.time() - 2 * atomic.STALE_S
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    run([site])
    assert not stale.exists() and fresh.exists() and other.exists()


def test_fifos_named_like_pages_and_images_do_not_hang_the_run(site):
    os.mkfifo(site / "pipe.html")
    os.mkfifo(site / "pipe.png")
    (site / "r.html").write_bytes(b"<img src=pipe.png>")
    code = (
        "import sys; from fake_describer import FakeDescriber; from alttext import fill; "
        "r = fill.fill(sys.argv[1:], FakeDescriber(), fill.Options()); "
        "print([(x.action, x.reason) for x in r.records if x.page.endswith('r.html')], r.failures)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    done = subprocess.run([sys.executable, "-c", code, str(site), str(site / "pipe.html")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert "[('skipped', 'not a regular file')]" in done.stdout, done.stderr
    assert "pipe.html: not a regular file" in done.stdout
    assert (site / "p.html").read_bytes() == FILLED


def test_a_read_that_hangs_is_given_up_after_the_time_limit():
    reader, writer = os.pipe()  # a writer that never writes: a read blocks, as on a dead network mount
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match="reading took longer than 0.2 s"):
            _read_within(reader, 10, 100, 0.2, "slow.html")
        assert time.monotonic() - started < 5
    finally:
        os.close(writer)
        os.close(reader)


def test_only_regular_files_are_read(tmp_path):
    os.mkfifo(tmp_path / "x.jpg")
    with pytest.raises(SourceError, match="not a regular file"):
        read_file(tmp_path / "x.jpg")
    with pytest.raises(SourceError, match="is a directory"):
        read_file(tmp_path)
