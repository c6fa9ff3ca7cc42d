"""`alttext bench`, on a tiny random-weight bundle, through the real CLI."""

import json

import pytest
from typer.testing import CliRunner

from alttext.cli import app

runner = CliRunner()


def bench(*args):
    return runner.invoke(app, ["bench", "--seconds", "0.01", *args])


def test_bench_reports_every_batch_end_to_end_stages_and_latency(tiny_bundle):
    result = bench("--model", str(tiny_bundle), "--device", "cpu", "--json", "--batch-sizes", "1,3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [row["batch"] for row in report["batches"]] == [1, 3]
    assert all(row["encoder_images_per_s"] > 0 and row["caption_images_per_s"] > 0 for row in report["batches"])
    e2e = report["end_to_end"]
    assert e2e["batch"] == 3 and e2e["images_per_s"] > 0
    assert e2e["of_encoder"] == pytest.approx(e2e["images_per_s"] / e2e["encoder_images_per_s"], abs=0.01)
    assert abs(sum(e2e["stages"].values()) - 1.0) < 0.01 and e2e["stages"]["encoder"] > 0
    assert e2e["stages"]["decoder (ONNX)"] > 0
    assert e2e["evidence_beside_the_search"] == 0  # the tiny bundle has no evidence thresholds: no detector run
    assert report["latency_ms"]["images"] >= 10 and 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert report["provider"] == "CPUExecutionProvider" and report["device"] == "cpu"


def test_bench_table_and_the_fast_preset(tiny_bundle):
    result = bench("--model", str(tiny_bundle), "--device", "cpu", "--quality", "fast", "--batch-sizes", "2")
    assert result.exit_code == 0, result.output
    assert "(beam3-lp1)" in result.stdout and "end to end" in result.stdout and "p99" in result.stdout


def test_bench_says_in_one_line_what_is_wrong(tiny_bundle):
    # a short pattern: Typer's error box cuts a long one (pytest's tmp_path grows with each run)
    no_images = bench("--model", str(tiny_bundle), "--images", "no-such-folder/*.jpg")
    assert no_images.exit_code == 2 and "matches no image files" in no_images.output
    no_gpu = bench("--model", str(tiny_bundle), "--device", "cuda")
    assert no_gpu.exit_code == 1 and "--device cuda:" in no_gpu.output and "Traceback" not in no_gpu.output
    assert bench("--quality", "best").exit_code == 2
    assert bench("--batch-sizes", "1,x").exit_code == 2


def test_the_torch_eager_model_is_the_bundles_model():
    pytest.importorskip("torch", reason="the train extra (torch) runs the eager model")
    import numpy as np

    from alttext.bench import EXAMPLES
    from alttext.bundle import DEFAULT_MODEL, load_bundle
    from alttext.captioner import Captioner
    from alttext.images import load_pixels
    from training.bench_torch import largest_difference, torch_bundle

    bundle = load_bundle(DEFAULT_MODEL, "cpu")
    onnx_captioner, torch_captioner = Captioner(bundle, quality="fast"), Captioner(torch_bundle(bundle), quality="fast")
    pixels = np.stack([load_pixels(p.read_bytes(), p.name, onnx_captioner.input_size)
                       for p in sorted(EXAMPLES.glob("*.jpg"))[:2]])
    assert largest_difference(onnx_captioner, torch_captioner, pixels) < 1e-3
    assert [c.words for c in torch_captioner.caption(pixels)] == [c.words for c in onnx_captioner.caption(pixels)]


@pytest.mark.parametrize("value, threads", [("1", 1), ("3", 3), ("", 0), ("many", 0)])
def test_sessions_take_their_thread_count_from_omp_num_threads(tiny_bundle, monkeypatch, value, threads):
    from alttext.sessions import open_session

    monkeypatch.setenv("OMP_NUM_THREADS", value)  # Ray sets it to an actor's CPUs
    options = open_session(tiny_bundle / "encoder.onnx", ["CPUExecutionProvider"]).get_session_options()
    assert options.intra_op_num_threads == threads
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_bench_gives_the_detectors_share_with_the_shipped_bundle():
    result = bench("--device", "cpu", "--json", "--batch-sizes", "1")
    assert result.exit_code == 0, result.output
    e2e = json.loads(result.stdout)["end_to_end"]
    graph, detector, evidence = (e2e[f"{k}_beside_the_search"] for k in ("detector_graph", "detector", "evidence"))
    assert 0 < graph <= detector <= evidence <= 1
