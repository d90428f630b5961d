"""The part each stimulus plays in the test, its `role`: clustering decides which are
rated, a design which of the rest become trap sources, training or gold stimuli."""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction

from ..models import Experiment, Stimulus


def stimuli_set_rated(*, experiment: Experiment, rated_ids: Collection[int]) -> None:
    """Make `rated_ids` the experiment's rated stimuli (those kept after equalising the
    clusters); every other stimulus is not used until a design gives it a part."""
    with transaction.atomic():
        stimuli = Stimulus.objects.filter(experiment=experiment)
        stimuli.filter(pk__in=list(rated_ids)).update(role=Stimulus.Role.RATED)
        stimuli.exclude(pk__in=list(rated_ids)).update(role=Stimulus.Role.UNUSED)


def stimuli_cast_for_design(
    *,
    experiment: Experiment,
    trap_source_ids: Collection[int],
    training_ids: Collection[int],
    gold_ids: Collection[int],
) -> None:
    """Give the stimuli left out of rating their part in a new design: trap sources,
    training stimuli, and marked gold stimuli (a made gold clip's source keeps its
    trap-source role); the rest are not used. The rated stimuli keep their role, so
    training drawn from them (when too few are left out) leaves them rated."""
    with transaction.atomic():
        spare = Stimulus.objects.filter(experiment=experiment).exclude(role=Stimulus.Role.RATED)
        spare.update(role=Stimulus.Role.UNUSED)
        spare.filter(pk__in=list(trap_source_ids)).update(role=Stimulus.Role.TRAP_SOURCE)
        spare.filter(pk__in=list(training_ids)).update(role=Stimulus.Role.TRAINING)
        spare.filter(pk__in=list(gold_ids)).exclude(pk__in=list(trap_source_ids)).update(
            role=Stimulus.Role.GOLD
        )
