"""Rows for results tests: a rater's session with its answers, traps and votes (through
the shared factories), and many votes at once with bulk_create for volume tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from crowdtest.corpus.models import Experiment, Stimulus, Track
from crowdtest.design.models import GoldClip, Session, Trap
from crowdtest.rating.models import Assignment, AssignmentItem, Rater, Vote
from tests.factories import AssignmentFactory, AssignmentItemFactory, StimulusFactory, VoteFactory

RATING = AssignmentItem.Phase.RATING


def take_session(
    *,
    rater: Rater,
    stimuli: Sequence[Stimulus],
    scores: Sequence[int],
    traps: Iterable[tuple[Trap | GoldClip, int | None]] = (),
    training: Iterable[tuple[Stimulus, int]] = (),
    finished_at: datetime | None = None,
    **answers: Any,
) -> Assignment:
    """A session taken by `rater`: rating votes `scores` on `stimuli`, trap and gold clip
    answers (None: left unanswered), optional training votes, and the assignment's answers
    (math_given, hearing_normal, status, ...) as keyword arguments."""
    assignment = AssignmentFactory(
        rater=rater, finished_at=finished_at or timezone.now(), **answers
    )
    position = 0
    for stimulus, score in zip(stimuli, scores, strict=True):
        item = AssignmentItemFactory(assignment=assignment, stimulus=stimulus, position=position)
        VoteFactory(item=item, score=score)
        position += 1
    for check, given in traps:
        kind = "gold" if isinstance(check, GoldClip) else "trap"
        item = AssignmentItemFactory(
            assignment=assignment, stimulus=None, position=position, **{kind: check}
        )
        if given is not None:
            VoteFactory(item=item, score=given)
        position += 1
    for stimulus, score in training:
        item = AssignmentItemFactory(
            assignment=assignment,
            phase=AssignmentItem.Phase.TRAINING,
            stimulus=stimulus,
            position=position,
        )
        VoteFactory(item=item, score=score)
        position += 1
    return assignment


def make_stimuli(experiment: Experiment, count: int, **fields: Any) -> list[Stimulus]:
    return [StimulusFactory(track__experiment=experiment, **fields) for _ in range(count)]


def bulk_stimuli(experiment: Experiment, count: int, *, clusters: int = 5) -> list[Stimulus]:
    """Rated stimuli without files, fast."""
    tracks = Track.objects.bulk_create(
        Track(
            experiment=experiment,
            source_kind=Track.SourceKind.PATH,
            source=f"/archive/bulk_{i:05d}.wav",
            original_name=f"bulk_{i:05d}.wav",
            checksum=f"{experiment.pk:08x}{i:056x}",
        )
        for i in range(count)
    )
    return Stimulus.objects.bulk_create(
        Stimulus(
            experiment=experiment,
            track=t,
            status=Stimulus.Status.READY,
            cluster=i % clusters,
            role=Stimulus.Role.RATED,
        )
        for i, t in enumerate(tracks)
    )


def bulk_votes(
    experiment: Experiment,
    columns: Sequence[Sequence[tuple[int, int]]],
    *,
    start: datetime | None = None,
    valid: bool | None = None,
    step: timedelta = timedelta(seconds=30),
) -> list[Assignment]:
    """One completed session per column, each by its own rater: a column lists the
    (stimulus id, score) votes of that session. Rows go in with bulk_create."""
    start = start or timezone.now() - timedelta(hours=1)
    base = Rater.objects.filter(experiment=experiment).count()
    raters = Rater.objects.bulk_create(
        Rater(experiment=experiment, platform=Rater.Platform.LINK, external_id=f"bulk-{base + i}")
        for i in range(len(columns))
    )
    # Indexes far above the ones SessionFactory's sequence hands out.
    first = 1_000_000 + Session.objects.filter(experiment=experiment).count()
    sessions = Session.objects.bulk_create(
        Session(
            experiment=experiment,
            kind=Session.Kind.RATING,
            index=first + i,
            status=Session.Status.DONE,
        )
        for i in range(len(columns))
    )
    assignments = Assignment.objects.bulk_create(
        Assignment(
            experiment=experiment,
            rater=rater,
            session=session,
            stage=Assignment.Stage.FINISHED,
            status=Assignment.Status.COMPLETED,
            math_answer=5,
            math_given=5,
            hearing_normal=True,
            headphones=True,
            digits_correct=True,
            finished_at=start + step * (len(column) + i),
        )
        for i, (rater, session, column) in enumerate(zip(raters, sessions, columns))
    )
    items = AssignmentItem.objects.bulk_create(
        (
            AssignmentItem(
                assignment=assignment,
                phase=RATING,
                position=position,
                stimulus_id=stimulus_id,
                duration_s=10.0,
            )
            for assignment, column in zip(assignments, columns)
            for position, (stimulus_id, _) in enumerate(column)
        ),
        batch_size=5000,
    )
    scores = (score for column in columns for _, score in column)
    Vote.objects.bulk_create(
        (
            Vote(
                item=item,
                experiment=experiment,
                assignment=item.assignment,
                rater_id=item.assignment.rater_id,
                phase=RATING,
                stimulus_id=item.stimulus_id,
                score=score,
                play_started_at=start + step * n,
                submitted_at=start + step * n,  # dated as given, for the progress series
                listened_s=10.0,
                valid=valid,
            )
            for n, (item, score) in enumerate(zip(items, scores))
        ),
        batch_size=5000,
    )
    return assignments


def set_config(experiment: Experiment, **changes: Any) -> Experiment:
    """Change some of the experiment's settings (validated like the settings page)."""
    experiment.settings = experiment.config.replace(**changes).to_dict()
    experiment.save(update_fields=["settings"])
    return experiment
