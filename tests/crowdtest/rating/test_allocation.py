"""Handing out sessions through the real services: balanced votes, stratified sessions,
nobody rates a stimulus twice, racing raters never share a session, abandoned sessions
go back to the pool with their votes kept."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Session, SessionItem
from crowdtest.rating import services
from crowdtest.rating.assigning import assignment_start, assignments_release_abandoned
from crowdtest.rating.delivery import record_received
from crowdtest.rating.errors import RatingError
from crowdtest.rating.identity import RaterIdentity
from crowdtest.rating.models import Assignment, AssignmentItem, Rater, Vote
from crowdtest.rating.tasks import release_abandoned_task
from tests.crowdtest.rating.designs import make_design


def identity(experiment: Experiment, name: str) -> RaterIdentity:
    return RaterIdentity(experiment.pk, "link", name)


def take(experiment: Experiment, name: str, *, stop_after: int | None = None) -> Assignment:
    """A rater takes a session through the services, rating every clip (or the first
    `stop_after`); traps get their answer."""
    assignment = services.assignment_consent(
        experiment=experiment, identity=identity(experiment, name)
    )
    if assignment.stage == Assignment.Stage.SETUP:
        clip = assignment.digits_clip
        assert clip is not None
        services.setup_answer(
            assignment_id=assignment.pk, clip=assignment.digits_clip_key, digits=clip.digits
        )
    assignment.refresh_from_db()
    if assignment.stage == Assignment.Stage.QUESTIONS:
        services.questions_answer(
            assignment_id=assignment.pk, math=7, hearing_normal=True, headphones=True
        )
    items = list(assignment.items.select_related("trap").order_by("phase", "position"))
    items.sort(key=lambda i: (i.phase != AssignmentItem.Phase.TRAINING, i.position))
    for done, item in enumerate(items):
        if stop_after is not None and done >= stop_after:
            return assignment
        record_received(item.pk)
        services.clip_play(assignment_id=assignment.pk, clip=item.clip_key)
        score = item.trap.answer if item.trap else 1 + done % 5
        services.clip_rate(assignment_id=assignment.pk, clip=item.clip_key, score=score)
    return services.assignment_finish(assignment_id=assignment.pk)


def clusters_of(session: Session) -> Counter[int | None]:
    return Counter(
        item.stimulus.cluster
        for item in session.items.select_related("stimulus")
        if item.stimulus is not None
    )


@pytest.mark.django_db
def test_many_raters_balance_votes_and_never_repeat_a_stimulus() -> None:
    built = make_design(n_clusters=3, size=6, per_cluster=2, votes=6, trap_sources=2)
    experiment = built.experiment
    n_sessions = Session.objects.filter(experiment=experiment, kind="rating").count()
    assert n_sessions == 18  # 6 stimuli x 6 votes / 2 per session, per cluster
    raters = [f"rater-{i}" for i in range(8)]
    taken = 0
    refusals: set[str] = set()
    while taken < n_sessions and len(raters) < 30:
        before = taken
        for name in raters:
            try:
                take(experiment, name)
                taken += 1
            except RatingError as exc:
                refusals.add(exc.code)
        if taken == before:  # every rater has heard too much: a newcomer takes the rest
            raters.append(f"rater-{len(raters)}")
    assert taken == n_sessions
    assert refusals <= {"no_session"}
    assert not Session.objects.filter(experiment=experiment, kind="rating").exclude(status="done")
    votes = Vote.objects.filter(experiment=experiment, phase="rating", stimulus__isnull=False)
    per_stimulus = Counter(votes.values_list("stimulus_id", flat=True))
    assert set(per_stimulus) == {s.pk for s in built.rated}
    assert all(abs(n - 6) <= 1 for n in per_stimulus.values()), per_stimulus
    pairs = Counter(votes.values_list("rater_id", "stimulus_id"))
    assert max(pairs.values()) == 1  # nobody rated a stimulus twice
    for session in Session.objects.filter(experiment=experiment, kind="rating"):
        assert clusters_of(session) == {0: 2, 1: 2, 2: 2}
        assert session.items.filter(trap__isnull=False).count() == 1
    items = SessionItem.objects.filter(session__experiment=experiment).count()
    assert items == 18 * 7 + 3  # rating sessions plus the training session


@pytest.mark.django_db
def test_setup_and_training_come_back_after_their_repeat_time() -> None:
    experiment = make_design(size=8, votes=2).experiment
    first = take(experiment, "r")
    assert first.needs_setup and first.needs_training
    second = take(experiment, "r")
    assert not second.needs_setup and not second.needs_training
    assert not second.items.filter(phase="training").exists()
    Rater.objects.update(setup_passed_at=timezone.now() - timedelta(minutes=31))
    third = take(experiment, "r")
    assert third.needs_setup and not third.needs_training
    Rater.objects.update(training_done_at=timezone.now() - timedelta(minutes=61))
    assert take(experiment, "r").needs_training


@pytest.mark.django_db
def test_the_repeat_times_are_the_experiments_settings() -> None:
    experiment = make_design(
        size=8, votes=2, settings={"setup_repeat_minutes": 5, "training_repeat_minutes": 10}
    ).experiment
    take(experiment, "r")
    Rater.objects.update(
        setup_passed_at=timezone.now() - timedelta(minutes=6),
        training_done_at=timezone.now() - timedelta(minutes=9),
    )
    second = take(experiment, "r")
    assert second.needs_setup and not second.needs_training
    Rater.objects.update(training_done_at=timezone.now() - timedelta(minutes=11))
    assert take(experiment, "r").needs_training


@pytest.mark.django_db
def test_an_abandoned_session_goes_back_to_the_pool_with_its_votes_kept() -> None:
    experiment = make_design(size=2, votes=1).experiment  # a single rating session
    gone = take(experiment, "gone", stop_after=4)
    kept = set(Vote.objects.filter(assignment=gone).values_list("pk", flat=True))
    assert kept
    with pytest.raises(RatingError) as refused:
        take(experiment, "next")
    assert refused.value.code == "no_session"
    Assignment.objects.filter(pk=gone.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=91)
    )
    finished = take(experiment, "next")  # allocation releases it first
    assert finished.session_id == gone.session_id
    gone.refresh_from_db()
    assert gone.status == Assignment.Status.ABANDONED
    assert set(Vote.objects.filter(assignment=gone).values_list("pk", flat=True)) == kept
    with pytest.raises(RatingError) as late:
        services.clip_rate(assignment_id=gone.pk, clip="whatever", score=3)
    assert late.value.code == "expired"


@pytest.mark.django_db
def test_the_periodic_task_releases_silent_raters_only() -> None:
    experiment = make_design(size=4, votes=2).experiment
    silent = take(experiment, "silent", stop_after=1)
    active = take(experiment, "active", stop_after=1)
    Assignment.objects.filter(pk=silent.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=120)
    )
    assert release_abandoned_task() == 1
    assert assignments_release_abandoned() == 0  # idempotent
    silent.refresh_from_db()
    active.refresh_from_db()
    assert silent.status == "abandoned" and silent.session.status == "open"
    assert active.status == "active" and active.session.status == "active"


@pytest.mark.django_db(transaction=True)
def test_two_raters_racing_for_the_last_session_do_not_both_get_it() -> None:
    experiment = make_design(size=2, votes=1).experiment
    assert Session.objects.filter(experiment=experiment, kind="rating").count() == 1
    barrier = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def start(name: str) -> None:
        try:
            barrier.wait()
            outcomes[name] = assignment_start(
                experiment=experiment, identity=identity(experiment, name)
            )
        except RatingError as exc:
            outcomes[name] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(n,)) for n in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    assert sorted(type(v).__name__ for v in outcomes.values()) == ["Assignment", "str"]
    assert "no_session" in outcomes.values()
    assert Assignment.objects.count() == 1
    assert Session.objects.get(experiment=experiment, kind="rating").status == "active"
