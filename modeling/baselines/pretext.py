"""The networks of ConvMaxPool's pre-trainings (paper §4.2.3, after Ragano et al., QoMEX
2021), each built around NISQA's framewise CNN (`nets.FramewiseCNN`), whose weights the
fine-tuning then starts from:

- `SegmentAutoencoder`: the CNN encodes one log-mel segment (n_mels x seg_length), a linear
  bottleneck makes it an embedding, a convolutional decoder (the CNN's pooled sizes in
  reverse, nearest-neighbour upsampling then 3x3 convolutions) rebuilds the segment;
- `ClusteringLayer` and `target_distribution`: DCEC's soft assignment (Guo et al., ICONIP
  2017, eq. 3: a Student's t kernel with one degree of freedom between an embedding and
  each cluster centre) and its sharpened self-training target (eq. 5);
- `DegradationClassifier`: the CNN, the maximum over a clip's segments (as ConvMaxPool)
  and a linear layer over the six classes of `modeling.degrade`;
- `ConvMaxPoolMTL`: the fine-tuned "DCEC MTL" model, ConvMaxPool that keeps DCEC's
  bottleneck and clustering layer for its second task.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modeling.baselines.nets import FramewiseCNN, MelModel, framewise
from modeling.mel import MelSettings


class SegmentDecoder(nn.Module):
    """(S, embed_dim) -> (S, n_mels, seg_length)."""

    def __init__(self, embed_dim: int, n_mels: int, seg_length: int) -> None:
        super().__init__()
        self.sizes = ((12, 5), (24, 7), (n_mels, seg_length))
        self.expand = nn.Linear(embed_dim, 64 * 6 * 3)
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(64, 64, 3, padding=1),
                nn.Conv2d(64, 32, 3, padding=1),
                nn.Conv2d(32, 16, 3, padding=1),
            ]
        )
        self.out = nn.Conv2d(16, 1, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.expand(z)).view(-1, 64, 6, 3)
        for conv, size in zip(self.convs, self.sizes):
            x = F.interpolate(F.relu(conv(x)), size=size, mode="nearest")
        segments: torch.Tensor = self.out(x).squeeze(1)
        return segments


class SegmentAutoencoder(nn.Module):
    """The CNN as encoder of a convolutional autoencoder of single segments. The decoder
    rebuilds the segment standardised by the training set's mean and std (so the loss is
    on a known scale); the encoder sees the raw log-mel, as the fine-tuned model will."""

    def __init__(self, n_mels: int, seg_length: int, embed_dim: int = 32) -> None:
        super().__init__()
        self.cnn = FramewiseCNN()
        self.bottleneck = nn.Linear(self.cnn.fan_out, embed_dim)
        self.decoder = SegmentDecoder(embed_dim, n_mels, seg_length)

    def encode(self, segments: torch.Tensor) -> torch.Tensor:
        embedding: torch.Tensor = self.bottleneck(self.cnn(segments))
        return embedding

    def forward(self, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding, reconstruction) of (S, n_mels, seg_length) segments."""
        z = self.encode(segments)
        return z, self.decoder(z)


class ClusteringLayer(nn.Module):
    """q_ij = (1 + |z_i - mu_j|^2)^-1, normalised over j (DCEC eq. 3, alpha = 1)."""

    def __init__(self, clusters: int, embed_dim: int) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.zeros(clusters, embed_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        distance = torch.cdist(z, self.centers) ** 2
        q = 1.0 / (1.0 + distance)
        return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'), f_j = sum_i q_ij (DCEC eq. 5):
    confident assignments count more, large clusters less."""
    weight = q**2 / q.sum(dim=0)
    return (weight.t() / weight.sum(dim=1)).t()


def clustering_loss(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """KL(P || Q), summed over clusters and averaged over the segments (DCEC eq. 4)."""
    return F.kl_div(q.clamp_min(1e-12).log(), p, reduction="batchmean")


class DegradationClassifier(nn.Module):
    """Framewise CNN -> max over a clip's segments -> logits of the degradation classes."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.cnn = FramewiseCNN()
        self.head = nn.Linear(self.cnn.fan_out, classes)

    def forward(self, segments: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = framewise(self.cnn, segments, mask)
        x = x.masked_fill(~mask.bool()[..., None], float("-inf")).amax(dim=1)
        logits: torch.Tensor = self.head(x)
        return logits


class ConvMaxPoolMTL(MelModel):
    """ConvMaxPool fine-tuned from DCEC with two tasks (the paper's "DCEC MTL"): the MOS,
    and DCEC's clustering of the clip's segments kept going on the labelled clips, so the
    CNN keeps the structure it learnt without labels. The second task's loss is
    `cluster_weight` x KL(P || Q) over the batch's real segments, P sharpened from Q
    (`target_distribution`) per batch and held fixed (our reading of Ragano et al.,
    QoMEX 2021; DCEC's own weight gamma = 0.1)."""

    cluster_weight = 0.1

    def __init__(self, mel: MelSettings | None = None, *, embed_dim: int, clusters: int) -> None:
        super().__init__(mel or MelSettings())
        self.cnn = FramewiseCNN()
        self.head = nn.Linear(self.cnn.fan_out, 1)
        self.bottleneck = nn.Linear(self.cnn.fan_out, embed_dim)
        self.clustering = ClusteringLayer(clusters, embed_dim)

    def _mos(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = features.masked_fill(~mask.bool()[..., None], float("-inf")).amax(dim=1)
        scores: torch.Tensor = self.head(x).squeeze(-1)
        return scores

    def forward(self, segments: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._mos(framewise(self.cnn, segments, mask), mask)

    def forward_with_auxiliary(
        self, segments: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        features = framewise(self.cnn, segments, mask)
        q = self.clustering(self.bottleneck(features[mask.bool()]))
        kl = clustering_loss(q, target_distribution(q).detach())
        return self._mos(features, mask), self.cluster_weight * kl
