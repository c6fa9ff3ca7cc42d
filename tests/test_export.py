"""export/: bundles written from torch models, checked against torch, read by the runtime."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from alttext.bundle import DEFAULT_MODEL, load_bundle  # noqa: E402
from alttext.captioner import Captioner  # noqa: E402
from export.detector import SECTION, float_weights, fold_maxpool_pad, quantize  # noqa: E402
from export.detector import main as detector_main  # noqa: E402
from export.export import check_against_torch, export_bundle, random_bundle  # noqa: E402
from export.pose import REFERENCE as POSE_REFERENCE  # noqa: E402
from export.pose import check_reference as check_pose_reference  # noqa: E402
from export.pose import patch_nodes, patched_model  # noqa: E402
from export.pose import tidy as tidy_pose  # noqa: E402
from training.model import Captioner as TorchCaptioner  # noqa: E402
from training.model import DecoderConfig, Ensemble  # noqa: E402
from training.vocab import SPECIALS  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "alttext" / "examples"
WORDS = list(SPECIALS) + "a dog runs on the grass".split()


def small_model(attention=True, seed=0):
    torch.manual_seed(seed)
    config = DecoderConfig(len(WORDS), attention=attention, embed_dim=16, hidden_dim=32, feature_dim=32,
                           attention_dim=16, dropout=0.0)
    return TorchCaptioner(config, pretrained=False).eval(), config


def saved_of(model, config):
    return {"config": config.to_dict(), "encoder": "lite0", "vocab": WORDS, "max_len": 8,
            "decoder": model.decoder.state_dict()}


def test_bundle_matches_torch_and_documents_itself(tiny_bundle):
    meta = json.loads((tiny_bundle / "model.json").read_text())
    assert meta["format_version"] == 1
    assert meta["provenance_check"]["max_abs_log_prob_diff_vs_torch"] <= 1e-4
    assert set(meta["special_tokens"]) == {"pad", "start", "end", "unk"}
    assert meta["vocab"][meta["special_tokens"]["unk"]] == "<unk>"
    for key in ("input_size", "normalisation", "max_length", "beam_size", "provenance", "scores"):
        assert key in meta


@pytest.mark.parametrize("attention", [True, False])
def test_both_decoders_export_within_tolerance(tmp_path, attention):
    model, config = small_model(attention)
    meta = export_bundle(model, saved_of(model, config), tmp_path / "b")
    assert meta["decoder"]["attention"] is attention
    assert check_against_torch(model, tmp_path / "b", seed=3) <= 1e-4


def test_check_fails_when_the_onnx_differs(tmp_path):
    model, config = small_model(seed=0)
    export_bundle(model, saved_of(model, config), tmp_path / "b")
    other, _ = small_model(seed=1)
    with pytest.raises(AssertionError, match="differs from torch"):
        check_against_torch(other, tmp_path / "b")


def test_runtime_never_emits_unk_and_stops_at_max_length(tmp_path):
    model, config = small_model()
    with torch.no_grad():
        model.decoder.out.bias.zero_()
        model.decoder.out.bias[WORDS.index("<unk>")] = 50.0  # the model wants <unk> ...
        model.decoder.out.bias[WORDS.index("<end>")] = -50.0  # ... and never to stop
    export_bundle(model, saved_of(model, config), tmp_path / "b")
    captioner = Captioner(load_bundle(tmp_path / "b", "cpu"), beam_size=3)
    pixels = np.random.default_rng(0).integers(0, 255, (2, 224, 224, 3), dtype=np.uint8)
    for cap in captioner.caption(pixels):
        assert "<unk>" not in cap.words
        assert len(cap.words) == 9  # max_len 8 words + the step that would have held <end>
        assert all(a != b for a, b in zip(cap.words, cap.words[1:]))


def test_random_bundle_is_seeded(tmp_path):
    a = random_bundle(tmp_path / "a", seed=5)
    b = random_bundle(tmp_path / "b", seed=5)
    assert a["vocab"] == b["vocab"]
    assert (tmp_path / "a" / "decoder.onnx").read_bytes() == (tmp_path / "b" / "decoder.onnx").read_bytes()


def test_float16_decoder_halves_its_file_and_still_matches_torch(tmp_path):
    model, config = small_model()
    export_bundle(model, saved_of(model, config), tmp_path / "full")
    half_model, _ = small_model()
    meta = export_bundle(half_model, saved_of(half_model, config), tmp_path / "half", float16_decoder=True)
    assert meta["weights"] == {"encoder": "float32", "decoder": "float16"}
    assert meta["provenance_check"]["max_abs_log_prob_diff_vs_torch"] <= 1e-4
    full, half = ((tmp_path / d / "decoder.onnx").stat().st_size for d in ("full", "half"))
    assert half < 0.6 * full
    pixels = np.random.default_rng(0).integers(0, 255, (2, 224, 224, 3), dtype=np.uint8)
    words = [[c.words for c in Captioner(load_bundle(tmp_path / d, "cpu"), beam_size=3).caption(pixels)]
             for d in ("full", "half")]
    assert words[0] == words[1]


def test_export_of_a_missing_or_broken_checkpoint_is_one_line_and_writes_nothing(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    for path, reason in [(tmp_path / "missing.pt", "no such checkpoint"), (broken, "not a checkpoint")]:
        proc = subprocess.run([sys.executable, "-m", "export.export", str(path), str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
        assert proc.returncode == 1
        assert proc.stderr.strip().startswith(f"{path}: {reason}") and "Traceback" not in proc.stderr
        assert not (tmp_path / "out").exists()


def first_step(decoder, grid, tokens):
    feats, h, c = decoder.prepare(grid)
    return decoder.step(tokens, h, c, feats)


def test_an_ensemble_lays_its_members_states_side_by_side_and_averages_their_probabilities():
    members = [small_model(seed=seed)[0].decoder for seed in (0, 1)]
    grid, tokens = torch.randn(2, 1280, 7, 7), torch.tensor([4, 5])
    with torch.no_grad():
        log_probs, h, c, _ = first_step(Ensemble(members), grid, tokens)
        alone = [first_step(m, grid, tokens) for m in members]
        twice = first_step(Ensemble([members[0], members[0]]), grid, tokens)[0]
    mean = torch.stack([a[0].exp() for a in alone]).mean(0).log()
    assert torch.allclose(log_probs, mean, atol=1e-5)
    assert torch.allclose(h, torch.cat([alone[0][1], alone[1][1]], 1))
    assert torch.allclose(c, torch.cat([alone[0][2], alone[1][2]], 1))
    assert torch.allclose(twice, alone[0][0], atol=1e-5)  # a model in agreement with itself is itself


def export_cli(tmp_path, *checkpoints, extra=()):
    return subprocess.run([sys.executable, "-m", "export.export", *map(str, checkpoints), str(tmp_path / "out"),
                           *extra], capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent.parent)


def test_several_checkpoints_export_as_one_ensemble_bundle_that_the_runtime_reads(tmp_path):
    paths = []
    for seed in (0, 1):
        model, config = small_model(seed=seed)
        paths.append(tmp_path / f"m{seed}.pt")
        torch.save({**saved_of(model, config), "dev_cider": 0.1 * seed}, paths[-1])
    proc = export_cli(tmp_path, *paths, extra=["--float16-decoder"])
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert [d["hidden_dim"] for d in meta["decoder"]] == [32, 32]
    assert meta["provenance"]["ensemble_of"] == [str(p) for p in paths]
    assert meta["provenance"]["dev_cider_d"] == [0.0, 0.1]
    assert meta["provenance_check"]["max_abs_log_prob_diff_vs_torch"] <= 1e-4
    bundle = load_bundle(tmp_path / "out", "cpu")
    assert bundle.decoder.get_inputs()[1].shape[1] == 64  # h of both members
    pixels = np.random.default_rng(0).integers(0, 255, (2, 224, 224, 3), dtype=np.uint8)
    assert all(len(cap.words) >= 1 for cap in Captioner(bundle, beam_size=2).caption(pixels))


def test_an_ensemble_of_different_vocabularies_is_refused_in_one_line(tmp_path):
    model, config = small_model()
    torch.save(saved_of(model, config), tmp_path / "a.pt")
    torch.save({**saved_of(model, config), "vocab": WORDS[:-1] + ["cat"]}, tmp_path / "b.pt")
    proc = export_cli(tmp_path, tmp_path / "a.pt", tmp_path / "b.pt")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"{tmp_path / 'b.pt'}: its vocab differs from {tmp_path / 'a.pt'}'s "
                                   "(an ensemble shares one encoder and one vocabulary)")
    assert not (tmp_path / "out").exists()


def detector_like(path: Path) -> None:
    """A small graph shaped like the converted detector: float16-stored weights, a LeakyRelu, TF's -inf
    Pad before a MaxPool, and a head conv whose output is split into class scores and box logits."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from export.export import store_weights_as_float16

    rng = np.random.default_rng(0)
    weights = {"w1": rng.normal(0, 0.3, (8, 3, 3, 3)), "b1": rng.normal(0, 0.1, 8),
               "w2": rng.normal(0, 0.3, (6, 8, 1, 1))}
    inits = [numpy_helper.from_array(w.astype(np.float16).astype(np.float32), name) for name, w in weights.items()]
    inits += [numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
              numpy_helper.from_array(np.array(-np.inf, np.float32), "minus_inf"),
              numpy_helper.from_array(np.array([2, 4], np.int64), "parts")]
    nodes = [helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("LeakyRelu", ["c1"], ["r1"], alpha=0.1),
             helper.make_node("Pad", ["r1", "pads", "minus_inf"], ["padded"]),
             helper.make_node("MaxPool", ["padded"], ["pooled"], kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("Conv", ["pooled", "w2"], ["head"], name="head"),
             helper.make_node("Split", ["head", "parts"], ["logits", "boxes"], axis=1),
             helper.make_node("Sigmoid", ["logits"], ["scores"])]
    size = SECTION["input_size"]
    graph = helper.make_graph(nodes, "detector_like",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", parts, "h", "w"])
                               for name, parts in (("scores", 2), ("boxes", 4))],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    store_weights_as_float16(path)


def run_graph(model, images: np.ndarray) -> list[np.ndarray]:
    """The outputs of an ONNX file (a Path) or of a loaded model."""
    import onnxruntime as ort

    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, {"images": images})


def example_images() -> np.ndarray:
    from PIL import Image

    from alttext.detector import preprocess

    return preprocess([Image.open(path) for path in sorted(EXAMPLES.glob("*.jpg"))], SECTION)[0]


def test_the_detectors_float_weights_and_folded_pool_compute_the_same_numbers(tmp_path):
    onnx = pytest.importorskip("onnx")
    detector_like(tmp_path / "d.onnx")
    model = fold_maxpool_pad(float_weights(onnx.load(str(tmp_path / "d.onnx"))))
    assert {node.op_type for node in model.graph.node} == {"Conv", "LeakyRelu", "MaxPool", "Split", "Sigmoid"}
    assert all(init.data_type != onnx.TensorProto.FLOAT16 for init in model.graph.initializer)
    assert not any(np.isinf(onnx.numpy_helper.to_array(init)).any() for init in model.graph.initializer)
    images = example_images()
    for before, after in zip(run_graph(tmp_path / "d.onnx", images), run_graph(model, images)):
        assert np.array_equal(before, after)


def test_int8_quantization_keeps_the_head_float_and_the_outputs_close(tmp_path):
    onnx = pytest.importorskip("onnx")
    detector_like(tmp_path / "d.onnx")
    quantize(tmp_path / "d.onnx", tmp_path / "q.onnx", sorted(EXAMPLES.glob("*.jpg")), tmp_path)
    model = onnx.load(str(tmp_path / "q.onnx"))
    producers = {name: node.op_type for node in model.graph.node for name in node.output}
    convs = {node.name: producers.get(node.input[1]) for node in model.graph.node if node.op_type == "Conv"}
    assert convs.pop("head") is None  # its weights are a float initializer
    assert set(convs.values()) == {"DequantizeLinear"}  # int8 weights
    images = example_images()
    (scores, boxes), (int8_scores, int8_boxes) = run_graph(tmp_path / "d.onnx", images), run_graph(model, images)
    assert np.abs(int8_scores - scores).max() < 0.05
    assert np.abs(int8_boxes - boxes).max() < 0.2 * np.abs(boxes).max()


def test_int8_wants_the_converted_float_detector(bundle_copy, tmp_path):
    with pytest.raises(SystemExit, match="no float detector to quantize"):
        detector_main([str(bundle_copy), "--int8", str(tmp_path), "--work", str(tmp_path / "work")])


@pytest.fixture
def shipped_pose() -> Path:
    path = DEFAULT_MODEL / "pose.onnx"
    if not path.exists():
        pytest.skip(f"{path} is missing: python -m export.pose {DEFAULT_MODEL} converts it")
    return path


def test_the_shipped_pose_model_matches_the_stored_reference_outputs(shipped_pose):
    assert POSE_REFERENCE.stat().st_size < 50_000
    section = json.loads((DEFAULT_MODEL / "model.json").read_text())["pose"]
    assert section["weights"] == "float16"
    worst = check_pose_reference(shipped_pose)
    assert worst == pytest.approx(section["provenance"]["max_abs_diff_vs_reference"], abs=1e-6)


def test_the_pose_reference_check_refuses_outputs_that_differ(shipped_pose, tmp_path, monkeypatch):
    with np.load(POSE_REFERENCE) as npz:
        np.savez(tmp_path / "moved.npz", pictures=npz["pictures"], bodies=npz["bodies"] + 0.01)
    monkeypatch.setattr("export.pose.REFERENCE", tmp_path / "moved.npz")
    with pytest.raises(AssertionError, match="bodies differ from moved.npz by 1.00e-02"):
        check_pose_reference(shipped_pose)


def tfjs_nodes() -> list[dict]:
    """Nodes as MoveNet's TF.js json has them: stripped attributes, and some that need nothing."""
    return [{"op": "_FusedConv2D", "attr": {"num_args": {"i": "2"}, "T": {"type": "DT_FLOAT"}}},
            {"op": "_FusedConv2D", "attr": {"num_args": {"i": "1"}, "TArgs": {"list": {"type": ["DT_HALF"]}}}},
            {"op": "TopKV2", "attr": {"T": {"type": "DT_FLOAT"}}},
            {"op": "TopKV2", "attr": {"Tk": {"type": "DT_INT64"}}},
            {"op": "FusedDepthwiseConv2dNative", "attr": {"num_args": {"i": "1"}}},
            {"op": "Const", "name": "w"}]


def test_the_tfjs_patch_gives_back_the_stripped_attributes_and_leaves_the_rest():
    nodes = patch_nodes(tfjs_nodes())
    int32 = {"type": "DT_INT32"}
    assert nodes[0]["attr"] == {"num_args": {"i": "2"}, "T": {"type": "DT_FLOAT"},
                                "TArgs": {"list": {"type": ["DT_FLOAT", "DT_FLOAT"]}}}
    assert nodes[2]["attr"] == {"T": {"type": "DT_FLOAT"}, "Tk": int32, "index_type": int32}
    assert nodes[3]["attr"] == {"Tk": {"type": "DT_INT64"}, "index_type": int32}
    untouched = tfjs_nodes()
    assert [nodes[i] for i in (1, 4, 5)] == [untouched[i] for i in (1, 4, 5)]


def test_the_patched_model_json_lies_beside_the_weights_it_names(tmp_path):
    models = tmp_path / "package" / "models"
    models.mkdir(parents=True)
    model = {"modelTopology": {"node": tfjs_nodes()},
             "weightsManifest": [{"paths": ["movenet-multipose.bin"], "weights": []}]}
    (models / "movenet-multipose.json").write_text(json.dumps(model))
    (models / "movenet-multipose.bin").write_bytes(b"weights")
    for _ in range(2):  # a second run replaces the first one's files
        patched = patched_model(tmp_path / "package", tmp_path / "work")
    assert patched == tmp_path / "work" / "movenet" / "movenet-multipose.json"
    assert json.loads(patched.read_text())["modelTopology"]["node"] == patch_nodes(tfjs_nodes())
    assert (patched.parent / "movenet-multipose.bin").read_bytes() == b"weights"


def test_the_converted_pose_graph_is_named_images_and_bodies(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    shape = [1, "unk__1", "unk__2", 3]  # as tf2onnx leaves the height and width
    graph = helper.make_graph([helper.make_node("Cast", ["input"], ["output_0"], to=TensorProto.FLOAT)], "tf2onnx",
                              [helper.make_tensor_value_info("input", TensorProto.INT32, shape)],
                              [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
              str(tmp_path / "converted.onnx"))
    tidy_pose(tmp_path / "converted.onnx", tmp_path / "pose.onnx")
    [images] = onnx.load(str(tmp_path / "pose.onnx")).graph.input
    assert [d.dim_value or d.dim_param for d in images.type.tensor_type.shape.dim] == [1, "height", "width", 3]
    pixels = np.arange(2 * 3 * 3, dtype=np.int32).reshape(1, 2, 3, 3)
    [bodies] = run_graph(tmp_path / "pose.onnx", pixels)
    assert np.array_equal(bodies, pixels)
    (tmp_path / "converted.onnx").write_bytes(onnx.load(str(tmp_path / "pose.onnx")).SerializeToString())
    with pytest.raises(SystemExit, match="its input and output are not input and output_0; the graph changed"):
        tidy_pose(tmp_path / "converted.onnx", tmp_path / "again.onnx")
