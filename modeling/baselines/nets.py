"""The paper's baseline networks (§4.2), on NISQA's mel segments (`modeling.mel`).

Layer sizes are NISQA's defaults (Mittag et al., Interspeech 2021; its repository's
`train_nisqa_cnn_sa_ap.yaml`):
- framewise CNN ("adapt"): six 3x3 convolutions with batch norm and ReLU, 16, 32, then
  four times 64 channels, adaptive max-pooling to 24x7, 12x5 and 6x3 after the first,
  second and fourth, 2-D dropout 0.2 before the last four, the last kernel as wide as
  the last pooled width so each segment becomes 64 x 6 = 384 features;
- time dependency: a linear map to 64, layer norm, then two post-norm self-attention
  layers (1 head, feed-forward 64, dropout 0.1, ReLU), no positional encoding, Xavier
  initialisation; padded segments are masked;
- attention pooling: a 128-unit ReLU layer scores each segment, softmax over the valid
  ones, the weighted mean goes through the output linear layer.

ConvMaxPool (the paper's simplification of NISQA): the same CNN, then the maximum over
time of each feature (valid segments only) and one linear layer.

Every model takes (B, N, n_mels, seg_length) segments, zero-padded, with a (B, N) mask of
the real ones, and returns (B,). The CNN sees only the real segments, so padding changes
neither a clip's score nor the batch-norm statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from modeling.mel import MelSettings
from modeling.w2vmos.quality_model import FrontEnd, QualityModel


@dataclass(frozen=True)
class CNNSettings:
    channels: tuple[int, int, int] = (16, 32, 64)
    kernel: int = 3
    dropout: float = 0.2
    pools: tuple[tuple[int, int], ...] = ((24, 7), (12, 5), (6, 3))


class FramewiseCNN(nn.Module):
    """(S, n_mels, seg_length) segments -> (S, fan_out) features."""

    def __init__(self, settings: CNNSettings | None = None) -> None:
        super().__init__()
        s = settings or CNNSettings()
        c1, c2, c3 = s.channels
        k = s.kernel
        last_pool = s.pools[2]
        widths = [c1, c2, c3, c3, c3, c3]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        previous = 1
        for i, width in enumerate(widths):
            # The last kernel spans the last pooled width, leaving one column per band.
            kernel, padding = ((k, last_pool[1]), (k // 2, 0)) if i == 5 else (k, k // 2)
            self.convs.append(nn.Conv2d(previous, width, kernel, padding=padding))
            self.norms.append(nn.BatchNorm2d(width))
            previous = width
        self.pools = s.pools
        self.dropout = nn.Dropout2d(s.dropout)
        self.fan_out = c3 * last_pool[0]

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        x = segments[:, None]
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if i >= 2:
                x = self.dropout(x)
            # Channels-last weights make every activation channels-last: batch norm and
            # pooling then run along contiguous channels (about 4x faster on the CPU)
            # and the convolutions take oneDNN's faster path.
            assert isinstance(conv, nn.Conv2d) and not isinstance(conv.padding, str)
            weight = conv.weight.to(memory_format=torch.channels_last)
            x = norm(F.conv2d(x, weight, conv.bias, conv.stride, conv.padding))
            if i in (0, 1, 3):
                # The maximum commutes with the ReLU, so pooling first rectifies two to
                # four times fewer values, with the same outputs and gradients.
                x = F.adaptive_max_pool2d(x, self.pools[(0, 1, 3).index(i)])
            # In place: neither batch norm's nor pooling's backward needs its output.
            x = F.relu(x, inplace=True)
        return x.flatten(1)


def framewise(cnn: FramewiseCNN, segments: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The CNN on the real segments only, scattered back to (B, N, fan_out), zeros on
    padding."""
    valid = mask.bool()
    features: torch.Tensor = cnn(segments[valid])
    out = features.new_zeros(*valid.shape, features.shape[-1])
    out[valid] = features
    return out


class SelfAttentionBlock(nn.Module):
    """NISQA's time-dependency block: linear to d_model, layer norm, post-norm layers."""

    def __init__(
        self,
        d_input: int,
        d_model: int = 64,
        layers: int = 2,
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(d_input, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model, 1, hidden, dropout, activation="relu", batch_first=True
            )
            for _ in range(layers)
        )
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.linear(x))
        padding = ~mask.bool()
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=padding)
        return x


class AttentionPooling(nn.Module):
    """A softmax over the valid segments of scores from a small ReLU network; the
    weighted mean of the features."""

    def __init__(self, d_input: int, hidden: int = 128) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(d_input, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).squeeze(-1).masked_fill(~mask.bool(), float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights[:, None], x).squeeze(1)


class MelModel(QualityModel):
    """A model on log-mel segments: its front end is the mel front end of `mel`."""

    def __init__(self, mel: MelSettings) -> None:
        super().__init__()
        self.mel = mel

    def front_end(self) -> FrontEnd:
        from modeling.baselines.store import MelFrontEnd

        return MelFrontEnd(self.mel)


class NISQA(MelModel):
    """Framewise CNN -> self-attention -> attention pooling -> linear."""

    def __init__(self, mel: MelSettings | None = None, cnn: CNNSettings | None = None) -> None:
        super().__init__(mel or MelSettings())
        self.cnn = FramewiseCNN(cnn)
        self.time_dependency = SelfAttentionBlock(self.cnn.fan_out)
        self.pool = AttentionPooling(64)
        self.head = nn.Linear(64, 1)

    def forward(self, segments: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = framewise(self.cnn, segments, mask)
        x = self.time_dependency(x, mask)
        scores: torch.Tensor = self.head(self.pool(x, mask)).squeeze(-1)
        return scores


class ConvMaxPool(MelModel):
    """Framewise CNN -> max over time -> linear."""

    def __init__(self, mel: MelSettings | None = None, cnn: CNNSettings | None = None) -> None:
        super().__init__(mel or MelSettings())
        self.cnn = FramewiseCNN(cnn)
        self.head = nn.Linear(self.cnn.fan_out, 1)

    def forward(self, segments: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = framewise(self.cnn, segments, mask)
        x = x.masked_fill(~mask.bool()[..., None], float("-inf")).amax(dim=1)
        scores: torch.Tensor = self.head(x).squeeze(-1)
        return scores
