"""What the rating app asks of the apps above it, which it does not import: receivers
live in those apps and answer through the signal's responses."""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from django.dispatch import Signal

from crowdtest.corpus.models import Experiment

# Sent with `experiment` and `among` (stimulus ids) as a rater starts a session under
# adaptive collection: a receiver returns the ids of `among` that need no more votes
# (results: their CI already reached the target width).
stimuli_saturated = Signal()


def saturated_among(*, experiment: Experiment, among: Collection[int]) -> set[int]:
    """The stimuli of `among` that some receiver says need no more votes."""
    found: set[int] = set()
    for _receiver, ids in stimuli_saturated.send(
        sender=Experiment, experiment=experiment, among=among
    ):
        found.update(cast("Collection[int]", ids or ()))
    return found
