"""The one exception of the training app."""

from __future__ import annotations


class TrainingError(Exception):
    """A model run, scoring or pre-training that can't be done; the message says why, in
    the domain's words (labels, folds, backbone, device, audio)."""
