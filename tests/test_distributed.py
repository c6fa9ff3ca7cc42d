"""`fill --ray`: a local Ray instance with 2 CPUs describes a site's images; the pages are the same
bytes as a run on this machine alone, also when a worker dies in the middle."""

import os
import sys
from pathlib import Path

import pytest
from imagefiles import encode, gradient

from alttext import fill
from alttext.describe import make_describer
from alttext.report import Progress

ray = pytest.importorskip("ray", reason="the ray extra runs fill --ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import the tests
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path / "cache"))


def make_site(root: Path) -> Path:
    (root / "img").mkdir(parents=True)
    for i in range(6):
        (root / "img" / f"p{i}.jpg").write_bytes(encode(gradient((40 + 9 * i, 30 + 7 * i)), "JPEG"))
    for p in range(5):
        imgs = "".join(f"<p>{k}</p><img src='img/p{(p + k) % 6}.jpg'>" for k in range(4))
        (root / f"page{p}.html").write_bytes(f"<!doctype html><body>\r\n{imgs}\r\n</body>".encode())
    return root


def filled(site: Path, out: Path, describer) -> dict[str, bytes]:
    fill.fill([str(site)], describer, fill.Options(out=out), Progress(stream=open(os.devnull, "w")))
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.html"))}


class DiesOnce:
    """A worker whose process exits in the middle of its first chunk, once in the whole run."""

    def __init__(self, settings: dict, marker: str):
        from alttext.distributed import DescribeWorker

        self.inner, self.marker = DescribeWorker(settings), Path(marker)

    def facts(self):
        return self.inner.facts()

    def describe(self, items):
        if not self.marker.exists():
            self.marker.write_text("died")
            os._exit(1)
        return self.inner.describe(items)


def test_ray_pages_are_the_bytes_of_one_machine_even_when_a_worker_dies(local_ray, tiny_bundle, tmp_path):
    from alttext.distributed import RayDescriber

    site = make_site(tmp_path / "site")
    settings = {"model": tiny_bundle, "device": "cpu", "batch_size": 2}
    alone = filled(site, tmp_path / "alone", make_describer(**settings))
    assert len(alone) == 5 and all(b"data-alt-generated" in page for page in alone.values())

    pooled = RayDescriber(settings, workers=2)
    assert pooled.model_id == make_describer(**settings).model_id  # one cache serves both
    os.environ["ALTTEXT_CACHE_DIR"] = str(tmp_path / "cache-ray")
    assert filled(site, tmp_path / "ray", pooled) == alone

    pooled.close()  # its two actors hold both CPUs
    marker = tmp_path / "died"

    class Dying(DiesOnce):
        def __init__(self, settings):
            super().__init__(settings, str(marker))

    os.environ["ALTTEXT_CACHE_DIR"] = str(tmp_path / "cache-dying")
    assert filled(site, tmp_path / "dying", RayDescriber(settings, workers=2, worker=Dying)) == alone
    assert marker.read_text() == "died"
