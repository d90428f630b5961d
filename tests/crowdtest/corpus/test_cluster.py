"""Clustering the stimuli's features and equalising the clusters."""

from __future__ import annotations

import numpy as np
import pytest

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.corpus.services import CorpusError, stimuli_cluster
from modeling.features import FEATURE_VERSION
from tests.factories import SessionFactory, StimulusFactory

pytestmark = pytest.mark.django_db


def stimuli_in_blobs(experiment: Experiment, sizes: list[int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _blob, size in enumerate(sizes):
        centre = rng.normal(0, 1, 253) * 10
        for _ in range(size):
            StimulusFactory(
                track__experiment=experiment,
                features=(centre + rng.normal(0, 0.5, 253)).tolist(),
                features_version=FEATURE_VERSION,
                cluster=None,
                role=Stimulus.Role.UNUSED,
            )


def test_kmeans_finds_the_clusters_and_equalises_them(experiment: Experiment) -> None:
    stimuli_in_blobs(experiment, [9, 6, 12])

    clustering = stimuli_cluster(experiment=experiment, algorithm="kmeans", k=3, seed=1)

    assert sorted(clustering.sizes) == [6, 9, 12]
    assert clustering.silhouette is not None and clustering.silhouette > 0.8
    assert clustering.equalised_size == 6
    kept = experiment.stimuli.filter(role=Stimulus.Role.RATED)
    assert kept.count() == 18
    for cluster in range(3):
        assert kept.filter(cluster=cluster).count() == 6
    assert experiment.stimuli.filter(role=Stimulus.Role.UNUSED).count() == 9
    assert clustering.plot.name is not None
    assert clustering.plot.name.endswith(".png") and clustering.plot.size > 1000


def test_the_same_seed_keeps_the_same_stimuli(experiment: Experiment) -> None:
    stimuli_in_blobs(experiment, [8, 5, 7])
    stimuli_cluster(experiment=experiment, k=3, seed=3)
    first = set(experiment.stimuli.filter(role=Stimulus.Role.RATED).values_list("pk", flat=True))
    stimuli_cluster(experiment=experiment, k=3, seed=3)
    assert (
        set(experiment.stimuli.filter(role=Stimulus.Role.RATED).values_list("pk", flat=True))
        == first
    )
    assert experiment.clusterings.filter(is_current=True).count() == 1


def test_hdbscan_for_comparison(experiment: Experiment) -> None:
    stimuli_in_blobs(experiment, [10, 10, 10])
    clustering = stimuli_cluster(experiment=experiment, algorithm="hdbscan")
    assert clustering.algorithm == "hdbscan"
    assert clustering.n_clusters == 3


def test_too_few_stimuli_and_frozen_design_are_refused(experiment: Experiment) -> None:
    stimuli_in_blobs(experiment, [2, 1])
    with pytest.raises(CorpusError, match="too few to cluster"):
        stimuli_cluster(experiment=experiment, k=5)
    stimuli_in_blobs(experiment, [10, 10], seed=2)
    stimuli_cluster(experiment=experiment, k=2)
    SessionFactory(experiment=experiment)
    with pytest.raises(CorpusError, match="clustering is frozen"):
        stimuli_cluster(experiment=experiment, k=2)
