"""Sessions taken outside the app (a crowd platform's own HITs, imported from its results
file), written as rating's rows: the rater, a finished assignment, its items and votes. The
platforms app reads the file and hands the sessions over here; rating alone writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Session, Trap

from .models import Assignment, AssignmentItem, Rater, Vote


@dataclass(frozen=True)
class ImportedRating:
    """One clip as the platform recorded it: a stimulus or a trap, its score, and whether
    it was played to the end."""

    stimulus: Stimulus | None
    trap: Trap | None
    score: int
    played: bool


@dataclass(frozen=True)
class ImportedSession:
    platform: str
    worker: str
    batch_id: str
    assignment_id: str
    accepted: datetime
    submitted: datetime
    ratings: list[ImportedRating] = field(default_factory=list)
    math_question: str = ""
    math_answer: int | None = None
    math_given: int | None = None
    hearing_normal: bool | None = None
    headphones: bool | None = None


def assignment_import(
    *, experiment: Experiment, session: Session, taken: ImportedSession
) -> Assignment:
    """The imported session as a finished assignment of `session`: completed when every
    clip was played, abandoned otherwise, counted in the rater's sessions when completed."""
    rater, _ = Rater.objects.get_or_create(
        experiment=experiment, platform=taken.platform, external_id=taken.worker
    )
    done = Assignment.objects.filter(rater=rater, status=Assignment.Status.COMPLETED).count()
    complete = all(rating.played for rating in taken.ratings)
    assignment = Assignment.objects.create(
        experiment=experiment,
        rater=rater,
        session=session,
        stage=Assignment.Stage.FINISHED,
        status=Assignment.Status.COMPLETED if complete else Assignment.Status.ABANDONED,
        platform_assignment_id=taken.assignment_id,
        platform_batch_id=taken.batch_id,
        needs_setup=False,
        needs_training=False,
        math_question=taken.math_question,
        math_answer=taken.math_answer,
        math_given=taken.math_given,
        hearing_normal=taken.hearing_normal,
        headphones=taken.headphones,
        finished_at=taken.submitted,
        ordinal=done + 1 if complete else None,
    )
    Assignment.objects.filter(pk=assignment.pk).update(started_at=taken.accepted)
    default = experiment.config.excerpt_seconds
    for position, rating in enumerate(taken.ratings):
        source = rating.stimulus if rating.stimulus is not None else rating.trap
        duration = float(getattr(source, "duration_s", None) or default)
        item = AssignmentItem.objects.create(
            assignment=assignment,
            phase=AssignmentItem.Phase.RATING,
            position=position,
            stimulus=rating.stimulus,
            trap=rating.trap,
            duration_s=duration,
            play_started_at=taken.accepted,
            plays=1,
        )
        Vote.objects.create(
            item=item,
            experiment=experiment,
            assignment=assignment,
            rater=rater,
            phase=AssignmentItem.Phase.RATING,
            stimulus=rating.stimulus,
            trap=rating.trap,
            score=rating.score,
            play_started_at=taken.accepted,
            submitted_at=taken.submitted,
            listened_s=duration if rating.played else 0.0,
        )
    return assignment
