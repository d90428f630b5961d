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

# Sent with `experiment` and `among` (stimulus ids) as a rater starts a session under
# adaptive collection, to choose what replaces a stimulus that needs no more votes: a
# receiver returns, for each id of `among` it knows, its valid votes and its 95% CI full
# width (None below two votes).
stimuli_precision = Signal()


def saturated_among(*, experiment: Experiment, among: Collection[int]) -> set[int]:
    """The stimuli of `among` that some receiver says need no more votes."""
    found: set[int] = set()
    for _receiver, ids in stimuli_saturated.send(
        sender=Experiment, experiment=experiment, among=among
    ):
        found.update(cast("Collection[int]", ids or ()))
    return found


def precision_among(
    *, experiment: Experiment, among: Collection[int]
) -> dict[int, tuple[int, float | None]]:
    """Valid votes and 95% CI full width of the stimuli of `among`, as receivers know them;
    a stimulus no receiver knows has no valid vote yet."""
    found: dict[int, tuple[int, float | None]] = dict.fromkeys(among, (0, None))
    for _receiver, known in stimuli_precision.send(
        sender=Experiment, experiment=experiment, among=among
    ):
        found.update(cast("dict[int, tuple[int, float | None]]", known or {}))
    return found
