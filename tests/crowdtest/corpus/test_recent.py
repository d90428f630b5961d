"""The process's recent copy of an experiment (the rater API's one-query read) is dropped
as soon as this process saves or deletes the experiment, not only when it expires."""

from __future__ import annotations

import gc

import pytest

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.selectors import experiment_recent
from tests.factories import ExperimentFactory

pytestmark = pytest.mark.django_db


def test_a_saved_or_deleted_experiment_is_read_again_at_once() -> None:
    experiment = ExperimentFactory(settings={"test_method": "acr"})
    gc.collect()  # the drop must not hang on a reference that a collection can clear
    recent = experiment_recent(experiment_id=experiment.pk)
    assert recent is not None and recent.config.test_method == "acr"
    experiment.settings = {**experiment.settings, "test_method": "ccr"}
    experiment.save(update_fields=["settings"])
    recent = experiment_recent(experiment_id=experiment.pk)
    assert recent is not None and recent.config.test_method == "ccr"
    pk = experiment.pk
    Experiment.objects.filter(pk=pk).delete()
    assert experiment_recent(experiment_id=pk) is None
