"""What the training loop, cross-validation and archive scoring need of a model, whatever
its kind (w2vMOS or one of the paper's baselines): a forward pass from a padded batch
and its mask to one MOS per item, a picklable front end that turns a file into that
model's input, and its parameters split into the (pre-trained) body and the output head,
which get their own learning rates."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn


class FrontEnd(Protocol):
    """A file's model input: samples (w2vMOS) or mel segments (baselines), whose first
    axis is the one batches pad and mask. Raises AudioReadError when it can't."""

    def __call__(
        self, path: Path, *, max_seconds: float | None, start_seconds: float | None = None
    ) -> NDArray[np.float32]: ...


class QualityModel(nn.Module):
    """forward(values (B, T, ...), mask (B, T)) -> predicted MOS (B,)."""

    head: nn.Linear

    def front_end(self) -> FrontEnd:
        raise NotImplementedError

    def forward_with_auxiliary(
        self, values: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The MOS, and the loss of a second task trained alongside (None: none), from
        one forward pass."""
        return self(values, mask), None

    def backbone_parameters(self) -> list[nn.Parameter]:
        head = {id(p) for p in self.head.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in head]

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())
