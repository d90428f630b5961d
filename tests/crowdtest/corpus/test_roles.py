"""The stimuli's parts in the test, set by clustering and by a design through corpus's
services only."""

from __future__ import annotations

import pytest

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.corpus.services import stimuli_cast_for_design, stimuli_set_rated
from tests.factories import StimulusFactory

pytestmark = pytest.mark.django_db


def roles(experiment: Experiment) -> list[str]:
    return list(experiment.stimuli.order_by("pk").values_list("role", flat=True))


def test_the_kept_stimuli_are_rated_and_the_rest_not_used(experiment: Experiment) -> None:
    stimuli = [StimulusFactory(track__experiment=experiment, role="training") for _ in range(4)]

    stimuli_set_rated(experiment=experiment, rated_ids=[stimuli[1].pk, stimuli[3].pk])

    assert roles(experiment) == ["unused", "rated", "unused", "rated"]


def test_a_design_casts_only_the_stimuli_left_out_of_rating(experiment: Experiment) -> None:
    rated = StimulusFactory(track__experiment=experiment, role=Stimulus.Role.RATED)
    spare = [
        StimulusFactory(track__experiment=experiment, role=Stimulus.Role.UNUSED) for _ in range(4)
    ]
    old_source = StimulusFactory(track__experiment=experiment, role=Stimulus.Role.TRAP_SOURCE)

    stimuli_cast_for_design(
        experiment=experiment,
        trap_source_ids=[spare[0].pk, spare[3].pk],
        training_ids=[rated.pk, spare[1].pk],  # training drawn partly from the rated
        gold_ids=[spare[2].pk, spare[3].pk],  # a made gold clip's source stays a source
    )

    assert dict(experiment.stimuli.values_list("pk", "role")) == {
        rated.pk: "rated",
        spare[0].pk: "trap_source",
        spare[1].pk: "training",
        spare[2].pk: "gold",
        spare[3].pk: "trap_source",
        old_source.pk: "unused",
    }
