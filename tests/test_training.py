"""training/: readers, vocabulary, CIDEr-D, and short real training runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from alttext.cider import CiderD  # noqa: E402
from training.data import read_coco, read_dataset, read_flickr8k, read_karpathy  # noqa: E402
from training.vocab import Vocabulary, tokenize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def make_flickr8k(root: Path, names=("a.jpg", "b.jpg", "c.jpg", "d.jpg")) -> Path:
    from imagefiles import encode, gradient

    (root / "Flicker8k_Dataset").mkdir(parents=True)
    (root / "Flickr8k_text").mkdir()
    for n in names:
        (root / "Flicker8k_Dataset" / n).write_bytes(encode(gradient((224, 224)), "JPEG"))
    lines = [f"{n}#{i}\tA dog runs on the grass number {i} ." for n in names for i in range(5)]
    lines += [f"{names[0]}.1#{i}\tA caption of a name with no image ." for i in range(5)]
    (root / "Flickr8k_text" / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    splits = {"train": names[:2], "dev": names[2:3], "test": names[3:]}
    for split, ns in splits.items():
        (root / "Flickr8k_text" / f"Flickr_8k.{split}Images.txt").write_text("\n".join(ns) + "\n")
    return root


def test_flickr8k_reader_skips_the_quirk_and_says_so(tmp_path, caplog):
    photos = read_flickr8k(make_flickr8k(tmp_path / "f8k"))
    assert [(p.path.name, p.split, len(p.captions)) for p in photos] == [
        ("a.jpg", "train", 5), ("b.jpg", "train", 5), ("c.jpg", "dev", 5), ("d.jpg", "test", 5)]
    assert "a.jpg.1" in caplog.text


def test_karpathy_and_coco_readers(tmp_path):
    karpathy = {"images": [
        {"filepath": "val2014", "filename": "x.jpg", "split": "restval", "sentences": [{"raw": "A cat."}]},
        {"filename": "y.jpg", "split": "val", "sentences": [{"raw": "A dog. "}, {"raw": "Dog"}]},
        {"filename": "z.jpg", "split": "test", "sentences": [{"raw": "A bird."}]},
    ]}
    (tmp_path / "dataset_coco.json").write_text(json.dumps(karpathy))
    photos = read_karpathy(tmp_path / "dataset_coco.json", tmp_path / "img")
    assert [(str(p.path.relative_to(tmp_path)), p.split, p.captions) for p in photos] == [
        ("img/val2014/x.jpg", "train", ["A cat."]), ("img/y.jpg", "dev", ["A dog.", "Dog"]),
        ("img/z.jpg", "test", ["A bird."])]
    coco = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
            "annotations": [{"image_id": 1, "caption": "A man. "}, {"image_id": 1, "caption": "Man"}]}
    (tmp_path / "captions_val2014.json").write_text(json.dumps(coco))
    photos = read_coco(tmp_path / "captions_val2014.json", tmp_path, "dev")
    assert [(p.path.name, p.split, p.captions) for p in photos] == [("a.jpg", "dev", ["A man.", "Man"])]
    assert len(read_dataset(f"coco:{tmp_path / 'captions_val2014.json'}:{tmp_path}:test")) == 1


def test_vocabulary():
    vocab = Vocabulary.build(["A dog, a DOG!", "a cat"], min_count=2)
    assert vocab.words[4:] == ["a", "dog"]
    ids = vocab.encode("A dog chases a cat", max_len=4)
    assert ids == [vocab.start, 4, 5, vocab.unk, 4, vocab.end]
    assert vocab.decode(ids) == "a dog <unk> a"
    assert tokenize("The dog's ball, 2 of them.") == ["the", "dog's", "ball", "2", "of", "them"]


def test_cider_d_equals_the_coco_scorer():
    from pycocoevalcap.cider.cider import Cider

    refs = {1: ["a dog runs on the grass", "a brown dog running"], 2: ["a man rides a bike", "a cyclist on a road"],
            3: ["two children play in the sand", "kids at the beach"]}
    hyps = {1: ["a dog running on grass"], 2: ["a man on a road"], 3: ["a dog in the sand"]}
    expected, _ = Cider().compute_score(refs, hyps)
    ours = CiderD({k: [s.split() for s in v] for k, v in refs.items()})
    assert ours.corpus({k: v[0].split() for k, v in hyps.items()}) == pytest.approx(expected, rel=1e-9)


def train(args, env=None, nproc=None):
    cmd = [sys.executable, "-m", "training.train", *args]
    if nproc:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "training.train", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, **(env or {})})


def test_train_export_caption_on_twenty_flickr8k_photos(flickr8k, tmp_path):
    """A few real training steps on 20 photos, then export, then `alttext caption` on the result."""
    run = tmp_path / "run"
    args = ["--data", f"flickr8k:{flickr8k}", "--out", str(run), "--limit", "20", "--epochs", "2", "--batch-size", "16",
            "--min-count", "2", "--scst-epochs", "1", "--scst-xe-weight", "0.2", "--cache-dir", str(tmp_path / "cache"),
            "--no-progress"]
    proc = train(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "dev CIDEr-D" in proc.stderr and (run / "best.pt").exists()
    last = torch.load(run / "last.pt", weights_only=False)
    assert [h["phase"] for h in last["state"]["history"]] == ["xe", "xe", "scst"]
    # resuming a finished run trains no further and keeps the checkpoint
    again = train(args)
    assert again.returncode == 0 and "resumed" in again.stderr and "epoch 4" not in again.stderr
    bundle = tmp_path / "bundle"
    exported = subprocess.run([sys.executable, "-m", "export.export", str(run / "best.pt"), str(bundle)],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert exported.returncode == 0, exported.stderr[-2000:]
    neighbours = subprocess.run([sys.executable, "-m", "training.consensus", str(bundle),
                                 "--data", f"flickr8k:{flickr8k}", "--limit", "20"],
                                capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert neighbours.returncode == 0, neighbours.stderr[-2000:]
    assert "20 photos, 100 captions, 20 dimensions" in neighbours.stdout
    photo = sorted((flickr8k / "Flicker8k_Dataset").glob("*.jpg"))[0]
    cap = subprocess.run([sys.executable, "-m", "alttext", "caption", "--json", "--model", str(bundle), str(photo)],
                         capture_output=True, text=True, timeout=120)
    assert cap.returncode == 0, cap.stderr
    record = json.loads(cap.stdout)[0]
    assert record["source"] == str(photo) and record["confidence"] > 0
    scores = subprocess.run([sys.executable, "-m", "training.evaluate", str(bundle), "--data", f"flickr8k:{flickr8k}",
                             "--split", "test", "--limit", "5", "--out", str(tmp_path / "eval.json"), "--record"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert scores.returncode == 0, scores.stderr[-2000:]
    report = json.loads((tmp_path / "eval.json").read_text())
    assert set(report["scores"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"}
    assert len(report["captions"]) == 5 and json.loads(scores.stdout)["scores"] == report["scores"]
    assert report["consensus"] is not None  # the neighbours re-ranked what was scored
    recorded = json.loads((bundle / "model.json").read_text())["scores"]["test"]
    assert recorded["scores"] == report["scores"] and recorded["images"] == 5


def test_two_process_ddp_with_gloo(tmp_path):
    data = make_flickr8k(tmp_path / "f8k", names=tuple(f"{i}.jpg" for i in range(8)))
    proc = train(["--data", f"flickr8k:{data}", "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "4",
                  "--min-count", "1", "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--workers", "0",
                  "--finetune-blocks", "1"],
                 env={"OMP_NUM_THREADS": "1"}, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("xe epoch 1") == 1  # only rank 0 reports
    assert "encoder_weights" in torch.load(tmp_path / "run" / "best.pt", weights_only=False)


def test_finetuning_the_last_encoder_block_trains_it_and_the_bundle_carries_it(tmp_path):
    from alttext.errors import ModelError
    from alttext.kinds import load_head
    from training.model import Encoder

    data = make_flickr8k(tmp_path / "f8k", names=tuple(f"{i}.jpg" for i in range(8)))
    run = tmp_path / "run"
    proc = train(["--data", f"flickr8k:{data}", "--out", str(run), "--epochs", "1", "--batch-size", "4",
                  "--min-count", "1", "--finetune-blocks", "1", "--finetune-lr", "1e-2",
                  "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name.split("-")[1] for p in (tmp_path / "cache").glob("*.npy")] == ["below1", "below1"]
    saved = torch.load(run / "best.pt", weights_only=False)
    pretrained = Encoder("lite0").state_dict()
    changed = {k for k, v in saved["encoder_weights"].items() if not torch.equal(v, pretrained[k])}
    last_block = len(Encoder("lite0").cnn._blocks) - 1
    assert changed and {k.split(".")[1] for k in changed} <= {"_blocks", "_conv_head", "_bn1"}
    assert all(k.startswith((f"cnn._blocks.{last_block}.", "cnn._conv_head.", "cnn._bn1.")) for k in changed)
    assert not any("running_" in k for k in changed)  # batch norms keep their ImageNet statistics
    bundle = tmp_path / "bundle"
    exported = subprocess.run([sys.executable, "-m", "export.export", str(run / "best.pt"), str(bundle)],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert exported.returncode == 0, exported.stderr[-2000:]
    meta = json.loads((bundle / "model.json").read_text())
    assert meta["encoder"].startswith("lite0+tuned-")
    # a kind head made through the ImageNet encoder no longer fits this bundle's pooled features
    with np.load(ROOT / "alttext" / "models" / "default" / "kinds.npz") as shipped:
        np.savez(bundle / "kinds.npz", **{**shipped, "encoder": np.array("lite0")})
    with pytest.raises(ModelError, match="trained on encoder lite0, the bundle has lite0\\+tuned-"):
        load_head(bundle, meta)


def photos_of_different_things(root: Path) -> Path:
    """make_flickr8k, with each photo's five captions about something else (CIDEr-D needs that)."""
    about = {"a.jpg": "a dog runs on the grass", "b.jpg": "a man rides a red bus", "c.jpg": "two girls swim",
             "d.jpg": "a cat sleeps on a bed"}
    data = make_flickr8k(root)
    lines = [f"{name}#{i}\t{sentence} number {i} ." for name, sentence in about.items() for i in range(5)]
    (data / "Flickr8k_text" / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    return data


def test_calibration_picks_the_lowest_threshold_with_few_unrelated_captions(tmp_path, bundle_copy, capsys):
    from training.calibrate import main as calibrate

    data = photos_of_different_things(tmp_path / "f8k")
    report = {"split": "train", "captions": [
        {"image": "a.jpg", "alt": "A dog runs on the grass.", "confidence": 0.9},
        {"image": "b.jpg", "alt": "Two children swim in a pool.", "confidence": 0.3},
    ]}
    (tmp_path / "dev.json").write_text(json.dumps(report))
    calibrate([str(tmp_path / "dev.json"), "--data", f"flickr8k:{data}", "--bundle", str(bundle_copy),
               "--max-unrelated", "0.0", "--fit-confidence"])
    assert "no agreement with neighbours in it" in capsys.readouterr().err
    meta = json.loads((bundle_copy / "model.json").read_text())
    assert meta["min_confidence"] == 0.325 and "confidence" not in meta
    captioned = [row["captioned"] for row in meta["calibration"]["table"]]
    assert captioned == sorted(captioned, reverse=True) and captioned[0] == 1.0


def test_calibration_fits_a_confidence_that_trusts_agreement_with_the_neighbours(tmp_path, bundle_copy):
    from alttext.captioner import caption_confidence
    from training.calibrate import main as calibrate

    data = photos_of_different_things(tmp_path / "f8k")
    # the model was surer of the unrelated caption's words; only the agreement tells them apart
    report = {"split": "train", "captions": [
        {"image": "a.jpg", "alt": "A dog runs on the grass.", "confidence": 0.2, "word_probability": 0.2,
         "agreement": 2.0},
        {"image": "b.jpg", "alt": "Two children swim in a pool.", "confidence": 0.9, "word_probability": 0.9,
         "agreement": 0.1},
    ]}
    (tmp_path / "dev.json").write_text(json.dumps(report))
    calibrate([str(tmp_path / "dev.json"), "--data", f"flickr8k:{data}", "--bundle", str(bundle_copy),
               "--max-unrelated", "0.0"])
    assert "confidence" not in json.loads((bundle_copy / "model.json").read_text())
    calibrate([str(tmp_path / "dev.json"), "--data", f"flickr8k:{data}", "--bundle", str(bundle_copy),
               "--max-unrelated", "0.0", "--fit-confidence"])
    meta = json.loads((bundle_copy / "model.json").read_text())
    model = meta["confidence"]
    assert model["agreement"] > 0
    assert caption_confidence(model, 0.2, 2.0) >= meta["min_confidence"] > caption_confidence(model, 0.9, 0.1)


def test_self_critical_training_raises_the_reward():
    """A toy problem: three 'images', two references each; the CIDEr-D reward must grow."""
    import types

    from training import train as T
    from training.model import Decoder, DecoderConfig

    torch.manual_seed(0)
    refs = {0: ["a dog runs on grass", "a brown dog runs"], 1: ["a cat sleeps on a bed", "a cat is sleeping"],
            2: ["a man rides a bike", "a man on a bike"]}
    vocab = Vocabulary.build([c for cs in refs.values() for c in cs], 1)
    grid = torch.randn(3, 1280, 2, 2)
    split = types.SimpleNamespace(refs={i: [tokenize(c) for c in cs] for i, cs in refs.items()},
                                  grid=grid, features=lambda ids: grid[ids])
    decoder = Decoder(DecoderConfig(len(vocab), embed_dim=16, hidden_dim=32, feature_dim=32, attention_dim=16,
                                    dropout=0.0))
    args = types.SimpleNamespace(scst_samples=5, batch_size=5, max_len=8, clip=5.0, no_progress=True,
                                 scst_xe_weight=0.0)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    rewards = [T.scst_epoch(decoder, split, T.reward_scorer(split.refs), vocab, optimizer, args, generator, 0, 1, 0)
               for _ in range(100)]
    assert sum(rewards[-20:]) / 20 > 1.3 * sum(rewards[:20]) / 20


def test_one_caption_each_picks_a_caption_of_that_image():
    import types

    from training.train import Split

    photos = [types.SimpleNamespace(captions=[f"photo {i} caption {j}" for j in range(n)])
              for i, n in enumerate([5, 3, 1, 4])]
    vocab = Vocabulary.build([c for p in photos for c in p.captions], 1)
    split = Split(photos, np.zeros((4, 1280, 1, 1), np.float16), vocab, 8, torch.device("cpu"))
    ids = torch.tensor([3, 0, 2, 1, 1, 3] * 50)
    rows = split.one_caption_each(ids, torch.Generator().manual_seed(0))
    assert torch.equal(split.caption_image[rows], ids)
    picked = {(i, r) for i, r in zip(ids.tolist(), rows.tolist())}
    assert len({r for i, r in picked if i == 0}) == 5  # every caption of photo 0 gets picked


@pytest.mark.parametrize("command, reason", [
    (["training.consensus", "{tmp}/no-bundle", "--data", "flickr8k:{data}"], "{tmp}/no-bundle: not a model bundle"),
    (["training.evaluate", str(ROOT / "alttext" / "models" / "default"), "--data", "flickr8k:{tmp}/no-data"],
     "flickr8k:{tmp}/no-data: cannot read the data set (No such file or directory"),
    (["training.train", "--data", "karpathy:{tmp}/missing.json", "--out", "{tmp}/run"],
     "karpathy:{tmp}/missing.json: malformed data set spec: use flickr8k:DIR"),
    (["training.train", "--data", "karpathy:{tmp}/missing.json:{tmp}", "--out", "{tmp}/run"],
     "karpathy:{tmp}/missing.json:{tmp}: cannot read the data set (No such file or directory: {tmp}/missing.json)"),
])
def test_training_commands_say_what_is_wrong_in_one_line(tmp_path, command, reason):
    data = make_flickr8k(tmp_path / "f8k")
    args = [a.format(tmp=tmp_path, data=data) for a in command]
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(reason.format(tmp=tmp_path))
    assert "Traceback" not in proc.stderr
