"""What a build refuses, with messages that say what to do; and rebuilding before the
first vote."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from crowdtest.corpus.models import Clustering, Experiment, Stimulus
from crowdtest.design.models import Design, DigitsClip, Session, SessionItem, Trap
from crowdtest.design.services import (
    DesignError,
    design_build_start,
    design_check,
    design_numbers,
    design_replace,
)
from crowdtest.jobs.models import Job
from crowdtest.rating.models import Assignment
from tests.crowdtest.rating.designs import RaterClient, make_design
from tests.factories import ExperimentFactory, StimulusFactory

pytestmark = pytest.mark.django_db


def clustered(sizes: list[int], sources: int, **settings: Any) -> Experiment:
    experiment = ExperimentFactory(
        settings={
            "n_clusters": len(sizes),
            "stimuli_per_cluster": 2,
            "training_size": 3,
            "trap_sources": 2,
            **settings,
        }
    )
    for cluster, size in enumerate(sizes):
        for _ in range(size):
            StimulusFactory(track__experiment=experiment, cluster=cluster, master="m.flac")
    for _ in range(sources):
        StimulusFactory(track__experiment=experiment, cluster=0, role="unused", master="m.flac")
    Clustering.objects.create(
        experiment=experiment,
        algorithm="kmeans",
        k=len(sizes),
        features_version="test",
        n_stimuli=sum(sizes) + sources,
        n_clusters=len(sizes),
        equalised_size=min(sizes),
    )
    return experiment


def check(experiment: Experiment, **overrides: Any) -> None:
    design_check(experiment=experiment, numbers=design_numbers(experiment=experiment, **overrides))


def test_a_buildable_experiment_passes() -> None:
    check(clustered([3, 3, 3], sources=2))


def test_not_clustered_is_refused() -> None:
    experiment = ExperimentFactory()
    with pytest.raises(DesignError, match="not clustered yet: run `cluster_stimuli`"):
        check(experiment)


def test_too_few_trap_sources_is_refused() -> None:
    with pytest.raises(DesignError, match=r"Too few trap sources: 1 prepared .* trap_sources = 2"):
        check(clustered([3, 3, 3], sources=1))


def test_clusters_smaller_than_per_cluster_are_refused() -> None:
    experiment = clustered([3, 1, 3], sources=2)
    with pytest.raises(
        DesignError, match=r"smaller than stimuli_per_cluster = 2 \(cluster 1 has 1\)"
    ):
        check(experiment)


def test_a_training_set_too_big_for_the_clusters_is_refused() -> None:
    with pytest.raises(DesignError, match="training set of 9 needs 3 stimuli from every cluster"):
        check(clustered([2, 2, 2], sources=2, training_size=9))


def test_stimuli_without_their_delivery_file_are_refused() -> None:
    experiment = clustered([3, 3, 3], sources=2)
    Stimulus.objects.filter(experiment=experiment, role="rated", cluster=1).update(delivery="")
    with pytest.raises(DesignError, match="3 of the stimuli to rate have no delivery file yet"):
        check(experiment)


def test_a_missing_espeak_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DesignError, match=r"espeak-ng is not installed.*upload recorded prompts"):
        check(clustered([3, 3, 3], sources=2))


def test_bad_numbers_are_refused() -> None:
    experiment = clustered([3, 3, 3], sources=2)
    with pytest.raises(DesignError, match="seed must not be negative"):
        check(experiment, seed=-1)
    with pytest.raises(DesignError, match="votes per stimulus must be at least 1"):
        check(experiment, votes_per_stimulus=0)


def test_a_build_refused_up_front_queues_nothing() -> None:
    experiment = ExperimentFactory()
    with pytest.raises(DesignError):
        design_build_start(experiment=experiment)
    assert not Job.objects.filter(scope=experiment.job_scope).exists()


def test_rebuilding_before_any_vote_replaces_the_design(client: Client) -> None:
    built = make_design(votes=2)
    experiment = built.experiment
    rc = RaterClient(client, experiment)
    rc.post("consent")  # a rater started, but gave no vote yet
    old_traps = set(Trap.objects.values_list("pk", flat=True))
    traps = [
        Trap(
            experiment=experiment,
            source=built.sources[0],
            answer=a,
            delivery="t.m4a",
            duration_s=0.2,
        )
        for a in range(1, 6)
    ]
    design_replace(
        experiment=experiment,
        numbers=design_numbers(experiment=experiment, votes_per_stimulus=4, seed=9),
        trap_source_ids=[built.sources[0].pk],
        traps=traps,
        gold_clips=[],
        digit_clips=[
            DigitsClip(
                experiment=experiment, digits="12", channels="LR", delivery="d.m4a", duration_s=1
            )
        ],
        volume_name="v.m4a",
    )
    assert not Assignment.objects.exists()  # the unvoted start is dropped with the old plan
    assert not set(Trap.objects.values_list("pk", flat=True)) & old_traps
    design = Design.objects.get(experiment=experiment)
    assert (design.seed, design.votes_per_stimulus, design.n_rating_sessions) == (9, 4, 8)
    assert Session.objects.filter(experiment=experiment, kind="rating").count() == 8
    assert (
        SessionItem.objects.filter(session__experiment=experiment, trap__isnull=False).count() == 8
    )
    assert Stimulus.objects.get(pk=built.sources[0].pk).role == "trap_source"
    assert rc.state()["stage"] == "consent"  # the rater simply starts again


def test_the_same_seed_gives_the_same_sessions() -> None:
    def plan(seed: int) -> list[list[tuple[int | None, int | None]]]:
        built = make_design(settings={"seed": seed})
        sessions = Session.objects.filter(experiment=built.experiment).order_by("kind", "index")
        first: dict[int | None, int] = {s.pk: i for i, s in enumerate(built.rated)}
        return [
            [
                (first.get(i.stimulus_id), i.trap.answer if i.trap else None)
                for i in s.items.order_by("position")
            ]
            for s in sessions
        ]

    assert plan(5) == plan(5)
    assert plan(5) != plan(6)


def test_a_training_set_drawn_from_the_stimuli_to_rate_is_said_so(db: None) -> None:
    """With no stimuli to spare, the training set comes from the rated ones (as the
    paper's sampling allows) and the design says raters may hear them again."""
    from crowdtest.design.services import TRAINING_FROM_RATED

    built = make_design(training=3)
    design = Design.objects.get(experiment=built.experiment)
    assert TRAINING_FROM_RATED in design.warnings
