"""Rows for platform tests: publications as `publish` leaves them, sessions taken by
MTurk or Prolific raters (through the shared factories), and MTurk's list rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Max
from django.utils import timezone

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Session
from crowdtest.platforms.models import Batch, Publication, Submission
from crowdtest.rating.models import Assignment, Rater
from tests.crowdtest.results.builders import take_session
from tests.factories import StimulusFactory

WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def published(
    experiment: Experiment,
    *batches: str,
    platform: str = "mturk",
    sandbox: bool = True,
    places: int = 9,
    duration_s: int = 5400,
) -> Publication:
    publication = Publication.objects.create(
        experiment=experiment,
        platform=platform,
        sandbox=sandbox,
        status=Publication.Status.PUBLISHED,
        sessions=places * len(batches),
        reward_usd="0.50",
        type_id="3TYPE" if platform == "mturk" else "",
        duration_s=duration_s,
    )
    for external_id in batches:
        Batch.objects.create(publication=publication, external_id=external_id, places=places)
    return publication


def stimuli(experiment: Experiment, n: int = 3) -> list[Stimulus]:
    return [StimulusFactory(track__experiment=experiment) for _ in range(n)]


def session(
    experiment: Experiment,
    worker: str,
    assignment_id: str,
    batch: str,
    *,
    platform: str = "mturk",
    valid: bool = True,
    finished_at: datetime | None = None,
    on: list[Stimulus] | None = None,
) -> Assignment:
    """A completed session: varied scores and right answers when `valid`, a wrong math
    answer otherwise."""
    rater, _ = Rater.objects.get_or_create(
        experiment=experiment, platform=platform, external_id=worker
    )
    rated = on or stimuli(experiment)
    last = Session.objects.filter(experiment=experiment).aggregate(n=Max("index"))["n"]
    done = Session.objects.create(
        experiment=experiment, kind=Session.Kind.RATING, index=(last or 0) + 1, status="done"
    )
    return take_session(
        session=done,
        rater=rater,
        stimuli=rated,
        scores=[1, 3, 5, 2, 4][: len(rated)],
        finished_at=finished_at or timezone.now(),
        platform_assignment_id=assignment_id,
        platform_batch_id=batch,
        math_given=5 if valid else 4,
    )


def synced(
    publication: Publication,
    assignment: Assignment | None,
    external_id: str,
    worker: str,
    status: str = "Submitted",
) -> Submission:
    """A submission as a sync leaves it."""
    batch = (
        publication.batches.get(external_id=assignment.platform_batch_id)
        if assignment
        else (publication.batches.first())
    )
    assert batch is not None
    return Submission.objects.create(
        batch=batch,
        external_id=external_id,
        worker_id=worker,
        platform_status=status,
        match=Submission.Match.MATCHED if assignment else Submission.Match.UNKNOWN_HERE,
        assignment=assignment,
        synced_at=timezone.now(),
    )


def mturk_row(
    assignment_id: str, worker: str, hit: str, status: str = "Submitted"
) -> dict[str, Any]:
    """An assignment as list_assignments_for_hit returns it."""
    return {
        "AssignmentId": assignment_id,
        "WorkerId": worker,
        "HITId": hit,
        "AssignmentStatus": status,
        "AutoApprovalTime": WHEN,
        "AcceptTime": WHEN,
        "SubmitTime": WHEN,
        "Deadline": WHEN,
        "Answer": "<QuestionFormAnswers/>",
    }
