"""Train the captioner on frozen encoder features: cross-entropy first, then optionally
self-critical sequence training with a CIDEr-D reward. Checkpoints are chosen on dev-split CIDEr-D.

    python -m training.train --data flickr8k:../shared/data/flickr8k --out runs/lite0

Several processes or hosts: `torchrun --nproc_per_node N -m training.train ...` (DDP; gloo on CPU,
NCCL on CUDA).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from alttext.cider import CiderD
from training.data import read_dataset
from training.features import DEFAULT_CACHE, grid_features
from training.model import Decoder, DecoderConfig, Encoder, EncoderTop, read_checkpoint
from training.vocab import END, Vocabulary, tokenize

log = logging.getLogger("train")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="flickr8k:DIR | karpathy:JSON:IMAGES | coco:JSON:IMAGES:SPLIT,...")
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, log)")
    p.add_argument("--encoder", default="lite0", choices=["lite0", "lite1", "lite2"])
    p.add_argument("--no-attention", action="store_true", help="plain Show and Tell decoder")
    p.add_argument("--embed-dim", type=int, default=256)
    p.add_argument("--hidden-dim", type=int, default=512)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--max-len", type=int, default=22, help="longest caption, in words")
    p.add_argument("--epochs", type=int, default=12, help="cross-entropy epochs")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--lr-decay", type=float, default=0.8, help="learning rate factor every --decay-every epochs")
    p.add_argument("--decay-every", type=int, default=3)
    p.add_argument("--clip", type=float, default=5.0, help="gradient norm clipping")
    p.add_argument("--alpha-c", type=float, default=1.0, help="doubly stochastic attention regulariser")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--patience", type=int, default=3, help="epochs without dev CIDEr gain before stopping")
    p.add_argument("--scst-epochs", type=int, default=0, help="self-critical epochs after cross-entropy")
    p.add_argument("--scst-lr", type=float, default=5e-5)
    p.add_argument("--scst-samples", type=int, default=5)
    p.add_argument("--scst-xe-weight", type=float, default=0.0,
                   help="add this much cross-entropy on a reference caption of each image to the self-critical loss")
    p.add_argument("--finetune-blocks", type=int, default=0,
                   help="also train the encoder's last N blocks and head convolution (cross-entropy epochs; for a GPU)")
    p.add_argument("--finetune-lr", type=float, default=1e-4, help="learning rate of the fine-tuned encoder blocks")
    p.add_argument("--init-from", type=Path, help="start from this checkpoint's decoder (same data and vocabulary)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N photos of each split (smoke tests)")
    p.add_argument("--time-budget", type=float, default=0, help="stop after this many seconds, keeping the best")
    p.add_argument("--xe-time-budget", type=float, default=0, help="end cross-entropy after this many seconds")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=2, help="image decoding processes for feature extraction")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def setup_distributed(requested: str):
    device = "cuda" if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()) else "cpu"
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, torch.device(device)
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank = dist.get_rank()
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, dist.get_world_size(), torch.device("cuda", local)
    return rank, dist.get_world_size(), torch.device("cpu")


def deadline_after(start: float, *budgets: float) -> float:
    """The earliest of start + each non-zero budget; 0 means no deadline."""
    return min((start + b for b in budgets if b), default=0)


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Split:
    """Photos of one split: features on the training device, reference captions, encoded captions."""

    def __init__(self, photos, feats: np.ndarray, vocab: Vocabulary, max_len: int, device):
        self.refs = {i: [tokenize(c) for c in p.captions] for i, p in enumerate(photos)}
        self.pad = vocab.pad
        self.grid = torch.from_numpy(np.array(feats)).to(device)
        self.top: EncoderTop | None = None  # with --finetune-blocks, the cached features go through it
        pairs = [(i, vocab.encode(c, max_len)) for i, p in enumerate(photos) for c in p.captions]
        width = max(len(ids) for _, ids in pairs)
        self.caption_image = torch.tensor([i for i, _ in pairs], device=device)
        self.captions = torch.full((len(pairs), width), vocab.pad, dtype=torch.long)
        for row, (_, ids) in enumerate(pairs):
            self.captions[row, : len(ids)] = torch.tensor(ids)
        self.captions = self.captions.to(device)
        self.caption_count = torch.bincount(self.caption_image, minlength=len(photos))
        self.first_caption = torch.cumsum(self.caption_count, 0) - self.caption_count  # pairs are grouped by image

    def features(self, image_ids: torch.Tensor) -> torch.Tensor:
        cached = self.grid[image_ids].float()
        return self.top(cached) if self.top is not None else cached

    def one_caption_each(self, image_ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random reference caption's row for each image."""
        pick = torch.rand(len(image_ids), generator=generator).to(image_ids.device)
        return self.first_caption[image_ids] + (pick * self.caption_count[image_ids]).long()


def shard(n: int, batch_size: int, rank: int, world: int, generator: torch.Generator):
    """Shuffled index batches; each rank takes every world-th batch (the same count on every rank)."""
    order = torch.randperm(n, generator=generator)
    batches = [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]
    usable = len(batches) - len(batches) % world
    return batches[rank:usable:world]


def progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, leave=False, file=sys.stderr)


def xe_loss(model, decoder: Decoder, train: Split, rows: torch.Tensor, args) -> torch.Tensor:
    """Teacher-forcing cross-entropy on these caption rows, plus the attention regulariser."""
    captions = train.captions[rows]
    captions = captions[:, : int((captions != train.pad).sum(1).max())]
    logits, alphas = model(train.features(train.caption_image[rows]), captions)
    targets = captions[:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
        ignore_index=train.pad, label_smoothing=args.label_smoothing,
    )
    if decoder.config.attention and args.alpha_c:
        mask = (targets != train.pad).float().unsqueeze(2)
        loss = loss + args.alpha_c * ((1.0 - (alphas * mask).sum(1)) ** 2).mean()
    return loss


def trained_parameters(optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def average_gradients(params: list[torch.Tensor], world: int) -> None:
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def xe_epoch(model, decoder, train: Split, optimizer, args, generator, rank, world, deadline):
    model.train()
    params = trained_parameters(optimizer)
    # DistributedDataParallel averages the decoder's gradients; the fine-tuned encoder blocks are outside it
    outside = list(train.top.parameters()) if train.top is not None else []
    total, steps = 0.0, 0
    batches = shard(len(train.captions), args.batch_size, rank, world, generator)
    for batch in progress(batches, rank == 0 and not args.no_progress, "xe"):
        loss = xe_loss(model, decoder, train, batch, args)
        optimizer.zero_grad()
        loss.backward()
        if world > 1 and outside:
            average_gradients(outside, world)
        torch.nn.utils.clip_grad_norm_(params, args.clip)
        optimizer.step()
        total += loss.item()
        steps += 1
        if deadline and time.time() > deadline:
            break
    return total / max(steps, 1)


def decode(decoder: Decoder, grid: torch.Tensor, max_len: int, vocab: Vocabulary, sample: bool = False):
    """Greedy (or sampled) captions: tokens (B, T), the log-probability of each token (B, T), and
    the mask of tokens up to and including <end> (B, T)."""
    feats, h, c = decoder.prepare(grid)
    tokens = torch.full((grid.shape[0],), vocab.start, dtype=torch.long, device=grid.device)
    done = torch.zeros_like(tokens, dtype=torch.bool)
    out, logps, masks = [], [], []
    for _ in range(max_len + 1):
        log_probs, h, c, _ = decoder.step(tokens, h, c, feats)
        log_probs = log_probs.clone()
        log_probs[:, vocab.unk] = -1e9
        log_probs[:, vocab.start] = -1e9
        log_probs[:, vocab.pad] = -1e9
        if sample:
            tokens = torch.multinomial(log_probs.exp(), 1).squeeze(1)
        else:
            tokens = log_probs.argmax(1)
        tokens = torch.where(done, torch.full_like(tokens, vocab.pad), tokens)
        logps.append(log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1))
        masks.append(~done)
        out.append(tokens)
        done = done | (tokens == vocab.end)
        if bool(done.all()):
            break
    return torch.stack(out, 1), torch.stack(logps, 1), torch.stack(masks, 1).float()


def words(tokens: torch.Tensor, vocab: Vocabulary) -> list[list[str]]:
    return [vocab.decode(row).split() for row in tokens.tolist()]


def reward_scorer(refs: dict) -> CiderD:
    """CIDEr-D over references that end in <end>, as the COCO self-critical code scores, so that a
    sample is rewarded for ending where people end a sentence; without it, stopping mid-phrase
    ("a dog in the") costs almost nothing."""
    return CiderD({key: [s + [END] for s in sentences] for key, sentences in refs.items()})


def sample_words(tokens: torch.Tensor, vocab: Vocabulary) -> list[list[str]]:
    """The words of each sample, with <end> kept when the sample ended (for reward_scorer)."""
    return [w + [END] if vocab.end in row else w for w, row in zip(words(tokens, vocab), tokens.tolist())]


@torch.no_grad()
def dev_cider(decoder: Decoder, dev: Split, scorer: CiderD, vocab: Vocabulary, max_len: int) -> float:
    decoder.eval()
    hyps = {}
    for start in range(0, len(dev.refs), 500):
        ids = torch.arange(start, min(start + 500, len(dev.refs)), device=dev.grid.device)
        tokens, _, _ = decode(decoder, dev.features(ids), max_len, vocab)
        hyps.update(zip(ids.tolist(), words(tokens, vocab)))
    return scorer.corpus(hyps)


def scst_epoch(decoder, train: Split, scorer: CiderD, vocab, optimizer, args, generator, rank, world, deadline):
    """Self-critical training: reward = CIDEr-D of each sample (scorer from reward_scorer),
    baseline = mean of the other samples."""
    decoder.train()
    k = args.scst_samples
    per_step = max(args.batch_size // k, 1) * 2
    total, steps = 0.0, 0
    batches = shard(len(train.refs), per_step, rank, world, generator)
    for batch in progress(batches, rank == 0 and not args.no_progress, "scst"):
        image_ids = batch.to(train.grid.device).repeat_interleave(k)
        tokens, logps, mask = decode(decoder, train.features(image_ids), args.max_len, vocab, sample=True)
        rewards = torch.tensor(
            [scorer.score(i, w) for i, w in zip(image_ids.tolist(), sample_words(tokens, vocab))],
            device=logps.device,
        ).view(-1, k)
        baseline = (rewards.sum(1, keepdim=True) - rewards) / (k - 1)
        advantage = (rewards - baseline).view(-1, 1)
        loss = -(advantage * logps * mask).sum() / mask.sum()
        if args.scst_xe_weight:
            rows = train.one_caption_each(batch.to(train.grid.device), generator)
            loss = loss + args.scst_xe_weight * xe_loss(decoder, decoder, train, rows, args)
        optimizer.zero_grad()
        loss.backward()
        if world > 1:
            average_gradients(list(decoder.parameters()), world)
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), args.clip)
        optimizer.step()
        total += rewards.mean().item()
        steps += 1
        if deadline and time.time() > deadline:
            break
    return total / max(steps, 1)


def start_from(decoder: Decoder, encoder: Encoder | None, path: Path, vocab: Vocabulary, args) -> dict:
    saved = read_checkpoint(path, next(decoder.parameters()).device)
    if saved["vocab"] != vocab.words:
        raise SystemExit(f"{path}: trained with another vocabulary; use the same data and --min-count")
    if saved.get("finetune_blocks", 0) not in (0, args.finetune_blocks):
        raise SystemExit(f"{path}: its encoder's last {saved['finetune_blocks']} blocks were fine-tuned; "
                         f"continue it with --finetune-blocks {saved['finetune_blocks']}")
    decoder.load_state_dict(saved["decoder"])
    if encoder is not None and "encoder_weights" in saved:
        encoder.load_state_dict(saved["encoder_weights"])
    return {**saved, "history": [], "started_from": {"checkpoint": str(path), "history": saved.get("history")}}


def checkpoint(decoder: Decoder, encoder: Encoder | None, vocab: Vocabulary, args, extra: dict) -> dict:
    tuned = {"finetune_blocks": args.finetune_blocks, "encoder_weights": cpu_state(encoder)} if encoder else {}
    return {
        "config": decoder.config.to_dict(),
        "encoder": args.encoder,
        "vocab": vocab.words,
        "max_len": args.max_len,
        "decoder": cpu_state(decoder),
        **tuned,
        **extra,
    }


def cpu_state(module: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def make_optimizer(decoder: Decoder, top: EncoderTop | None, lr: float, top_lr: float) -> torch.optim.Optimizer:
    groups = [{"params": list(decoder.parameters()), "initial_lr": lr}]
    if top is not None:
        groups.append({"params": list(top.parameters()), "initial_lr": top_lr})
    return torch.optim.Adam([{**g, "lr": g["initial_lr"]} for g in groups])


def load_splits(args, rank: int, world: int, device) -> tuple[Vocabulary, Split, Split]:
    """The vocabulary of the train split, and the train and dev splits with their cached features."""
    photos = read_dataset(args.data)
    by_split = {s: [p for p in photos if p.split == s] for s in ("train", "dev")}
    if args.limit:
        by_split = {s: ps[: args.limit] for s, ps in by_split.items()}
    vocab = Vocabulary.build([c for p in by_split["train"] for c in p.captions], args.min_count)
    if world > 1 and rank != 0:
        dist.barrier()  # rank 0 fills the feature cache first; the others then read it
    splits = {}
    for name, ps in by_split.items():
        feats = grid_features([p.path for p in ps], args.encoder, args.cache_dir, device, workers=args.workers,
                              top_blocks=args.finetune_blocks)
        splits[name] = Split(ps, feats, vocab, args.max_len, device)
    if world > 1 and rank == 0:
        dist.barrier()
    return vocab, splits["train"], splits["dev"]


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    start = time.time()
    deadline = deadline_after(start, args.time_budget)
    rank, world, device = setup_distributed(args.device)
    seed_everything(args.seed)
    if device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    args.out.mkdir(parents=True, exist_ok=True)
    vocab, train, dev = load_splits(args, rank, world, device)
    dev_scorer = CiderD(dev.refs)
    log.info("vocabulary %d words; %d train / %d dev photos; features ready in %.0f s",
             len(vocab), len(train.refs), len(dev.refs), time.time() - start)

    config = DecoderConfig(len(vocab), attention=not args.no_attention, embed_dim=args.embed_dim,
                           hidden_dim=args.hidden_dim, dropout=args.dropout)
    decoder = Decoder(config).to(device)
    model = DistributedDataParallel(decoder) if world > 1 else decoder
    encoder = Encoder(args.encoder).to(device) if args.finetune_blocks else None
    train.top = dev.top = EncoderTop(encoder, args.finetune_blocks) if encoder else None

    def phase_optimizer(phase: str) -> torch.optim.Optimizer:
        """Cross-entropy trains the decoder and the fine-tuned encoder blocks; self-critical epochs the decoder."""
        if phase == "xe":
            return make_optimizer(decoder, train.top, args.lr, args.finetune_lr)
        if train.top is not None:
            train.top.requires_grad_(False)
        return make_optimizer(decoder, None, args.scst_lr, 0.0)

    state = {"epoch": 0, "phase": "xe", "best": -1.0, "stale": 0, "history": []}
    last_path, best_path = args.out / "last.pt", args.out / "best.pt"
    saved = torch.load(last_path, map_location=device, weights_only=False) if last_path.exists() else None
    if saved:
        state = saved["state"]
        decoder.load_state_dict(saved["decoder"])
        if encoder is not None:
            encoder.load_state_dict(saved["encoder_weights"])
    optimizer = phase_optimizer(state["phase"])
    if saved:
        optimizer.load_state_dict(saved["optimizer"])
        log.info("resumed from %s at %s epoch %d", last_path, state["phase"], state["epoch"])
    generator = torch.Generator().manual_seed(args.seed + state["epoch"])
    best = torch.load(best_path, map_location=device, weights_only=False) if best_path.exists() else {}
    if args.init_from and not last_path.exists():
        best = start_from(decoder, encoder, args.init_from, vocab, args)
        best["dev_cider"] = state["best"] = dev_cider(decoder, dev, dev_scorer, vocab, args.max_len)
        log.info("starting from %s: dev CIDEr-D %.4f", args.init_from, state["best"])
        if rank == 0:
            torch.save(best, best_path)

    def finish_epoch(metric_name: str, value: float) -> bool:
        """Score on dev, keep the best, save a resumable checkpoint; True to stop this phase."""
        score = dev_cider(decoder, dev, dev_scorer, vocab, args.max_len)
        state["epoch"] += 1
        state["history"].append({"phase": state["phase"], "epoch": state["epoch"], metric_name: value,
                                 "dev_cider": score, "seconds": round(time.time() - start)})
        improved = score > state["best"]
        state["best"] = max(score, state["best"])
        state["stale"] = 0 if improved else state["stale"] + 1
        if improved:
            extra = {"dev_cider": score, "history": list(state["history"]), "started_from": best.get("started_from")}
            best.update(checkpoint(decoder, encoder, vocab, args, extra))
        if rank == 0:
            log.info("%s epoch %d: %s %.4f, dev CIDEr-D %.4f%s", state["phase"], state["epoch"], metric_name,
                     value, score, " (best)" if improved else "")
            if improved:
                torch.save(best, best_path)
            resumable = {"decoder": decoder.state_dict(), "optimizer": optimizer.state_dict(), "state": state,
                         **({"encoder_weights": encoder.state_dict()} if encoder else {})}
            torch.save(resumable, last_path)
        return state["stale"] >= args.patience or bool(deadline and time.time() > deadline)

    xe_deadline = deadline_after(start, args.time_budget, args.xe_time_budget)
    while state["phase"] == "xe" and state["epoch"] < args.epochs:
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * args.lr_decay ** (state["epoch"] // args.decay_every)
        loss = xe_epoch(model, decoder, train, optimizer, args, generator, rank, world, xe_deadline)
        if finish_epoch("loss", loss) or (xe_deadline and time.time() > xe_deadline):
            break
    if state["phase"] == "xe" and args.scst_epochs:
        if best:
            decoder.load_state_dict(best["decoder"])
            if encoder is not None:
                encoder.load_state_dict(best["encoder_weights"])
        state.update(phase="scst", stale=0, scst_start=state["epoch"])
        optimizer = phase_optimizer("scst")
    train_scorer = reward_scorer(train.refs) if state["phase"] == "scst" else None
    while state["phase"] == "scst" and state["epoch"] < state["scst_start"] + args.scst_epochs:
        if deadline and time.time() > deadline:
            break
        reward = scst_epoch(decoder, train, train_scorer, vocab, optimizer, args, generator, rank, world, deadline)
        if finish_epoch("reward", reward):
            break
    if rank == 0:
        log.info("done in %.0f s; best dev CIDEr-D %.4f -> %s", time.time() - start, state["best"], best_path)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
