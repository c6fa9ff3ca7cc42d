"""`alttext caption` end to end, through the real CLI, on a tiny random-weight bundle."""

import json
import os
import subprocess
import sys

import pytest
from httpserver import serve
from imagefiles import awkward_images, broken_images, encode, gradient, png_header_only, write_all
from typer.testing import CliRunner

from alttext.cli import app

runner = CliRunner()


def run_cli(*args, env_model=None, stdin=None):
    env = {**os.environ, "ALTTEXT_MODEL": str(env_model)} if env_model else dict(os.environ)
    cmd = [sys.executable, "-m", "alttext", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, env=env, timeout=120)


def caption_json(bundle, *sources):
    result = runner.invoke(app, ["caption", "--json", "--model", str(bundle), *map(str, sources)])
    return result.exit_code, json.loads(result.stdout)


def test_every_awkward_image_gets_a_sentence(tiny_bundle, tmp_path):
    files = write_all(tmp_path / "imgs", awkward_images())
    code, records = caption_json(tiny_bundle, *files)
    assert code == 0, records
    assert [r["source"] for r in records] == [str(f) for f in files]
    for r in records:
        assert r["action"] in ("alt", "review")
        assert 0.0 <= r["confidence"] <= 1.0
        if r["action"] == "alt":
            assert r["alt"][0].isupper() and r["alt"].endswith(".")
            assert "<" not in r["alt"]


def test_broken_inputs_are_one_line_each_and_exit_1(tiny_bundle, tmp_path):
    files = write_all(tmp_path / "bad", {**broken_images(), "huge.png": png_header_only(30000, 30000)})
    good = write_all(tmp_path / "good", {"ok.png": encode(gradient(), "PNG")})[0]
    proc = run_cli("caption", "--model", str(tiny_bundle), *map(str, files), str(good), str(tmp_path / "missing.jpg"))
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "Traceback" not in err
    reasons = {
        "truncated.jpg": "truncated image",
        "empty.jpg": "empty file",
        "text.jpg": "not an image format",
        "drawing.svg": "not an image format",
        "huge.png": "decompression bomb",
        "missing.jpg": "no such file",
    }
    for name, reason in reasons.items():
        lines = [line for line in err.splitlines() if name in line]
        assert len(lines) == 1 and reason in lines[0], (name, err)
    out = proc.stdout.decode().splitlines()
    assert len(out) == 1 and out[0].startswith(f"{good}\t")


def test_json_shape_for_failures(tiny_bundle, tmp_path):
    code, records = caption_json(tiny_bundle, tmp_path / "nope.png")
    assert code == 1
    assert records == [{"source": str(tmp_path / "nope.png"), "error": "no such file"}]


def test_directory_and_glob_sources(tiny_bundle, tmp_path):
    write_all(tmp_path / "site", {"a.png": encode(gradient(), "PNG"), "b.jpg": encode(gradient(), "JPEG"),
                                  "notes.txt": b"not an image"})
    code, records = caption_json(tiny_bundle, tmp_path / "site")
    assert code == 0 and [os.path.basename(r["source"]) for r in records] == ["a.png", "b.jpg"]
    code, records = caption_json(tiny_bundle, str(tmp_path / "site" / "*.jpg"))
    assert code == 0 and [os.path.basename(r["source"]) for r in records] == ["b.jpg"]
    code, records = caption_json(tiny_bundle, str(tmp_path / "site" / "*.gif"))
    assert code == 1 and records[0]["error"] == "no files match"


def test_stdin(tiny_bundle):
    proc = run_cli("caption", "--model", str(tiny_bundle), "-", stdin=encode(gradient(), "PNG"))
    assert proc.returncode == 0, proc.stderr
    source, alt = proc.stdout.decode().rstrip("\n").split("\t")
    assert source == "-" and alt.endswith(".")


def test_urls_from_a_real_server(tiny_bundle):
    png = encode(gradient(), "PNG")
    routes = {
        "/ok.png": (200, "image/png", png),
        "/page.html": (200, "text/html", b"<html></html>"),
        "/big.png": (200, "image/png", b"\0" * (21 * 1024 * 1024)),
    }
    with serve(routes) as base:
        urls = [f"{base}{p}" for p in ["/ok.png", "/missing.png", "/page.html", "/big.png"]]
        code, records = caption_json(tiny_bundle, *urls)
        by_path = {r["source"].rsplit("/", 1)[1]: r for r in records}
        assert code == 1
        assert by_path["ok.png"]["alt"]
        assert by_path["missing.png"]["error"] == "HTTP 404 Not Found"
        assert "content type is text/html" in by_path["page.html"]["error"]
        assert "larger than 20 MB" in by_path["big.png"]["error"]


def test_url_timeout(tiny_bundle):
    with serve({"/slow.png": (200, "image/png", encode(gradient(), "PNG"), 3)}) as base:
        code, records = caption_json(tiny_bundle, "--timeout", "0.5", f"{base}/slow.png")
    assert code == 1 and records[0]["error"] == "timed out after 0.5 s"


def test_device_cuda_without_a_gpu_is_a_clear_error(tiny_bundle, tmp_path):
    from alttext.bundle import why_no_cuda

    if why_no_cuda() is None:
        pytest.skip("this machine can run CUDA")
    img = write_all(tmp_path, {"a.png": encode(gradient(), "PNG")})[0]
    proc = run_cli("caption", "--device", "cuda", "--model", str(tiny_bundle), str(img))
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.decode().strip().startswith("alttext: --device cuda: ")
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    auto = run_cli("caption", "--model", str(tiny_bundle), str(img))
    assert auto.returncode == 0
    notes = [line for line in auto.stderr.decode().splitlines() if line]
    assert notes == [f"alttext: running on the CPU: {why_no_cuda()}"]


def test_usage_errors_exit_2(tiny_bundle):
    assert run_cli("caption").returncode == 2
    assert run_cli("caption", "--beam-size", "0", "x.jpg").returncode == 2
    assert run_cli("caption", "--device", "tpu", "x.jpg").returncode == 2


def test_missing_default_model_says_how_to_get_one(tmp_path, monkeypatch):
    from alttext import bundle

    monkeypatch.delenv("ALTTEXT_MODEL", raising=False)
    monkeypatch.setattr(bundle, "DEFAULT_MODEL", tmp_path / "nothing")
    result = runner.invoke(app, ["caption", "x.jpg"])
    assert result.exit_code == 1
    assert "the default model is not installed" in result.stderr
    assert "Training" in result.stderr


def test_model_env_variable(tiny_bundle, tmp_path):
    img = write_all(tmp_path, {"a.png": encode(gradient(), "PNG")})[0]
    proc = run_cli("caption", str(img), env_model=tiny_bundle)
    assert proc.returncode == 0 and proc.stdout.decode().startswith(str(img))


def test_a_caption_under_min_confidence_is_flagged_with_the_guess_and_not_printed(tiny_bundle, tmp_path):
    image = write_all(tmp_path, {"ok.png": encode(gradient(), "PNG")})[0]
    code, [written] = caption_json(tiny_bundle, image, "--min-confidence", "0")
    assert code == 0 and written["action"] == "alt"
    code, [flagged] = caption_json(tiny_bundle, image, "--min-confidence", "1")
    assert code == 0 and flagged["action"] == "review" and "alt" not in flagged
    assert flagged["confidence"] == written["confidence"]
    assert f"is below --min-confidence 1 (the model's guess, not written: {written['alt']!r})" in flagged["reason"]
    proc = run_cli("caption", "--model", str(tiny_bundle), "--min-confidence", "1", str(image))
    assert proc.returncode == 0 and proc.stdout == b""
    assert "needs a person" in proc.stderr.decode()
