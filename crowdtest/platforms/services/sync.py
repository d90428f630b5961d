"""Syncing submissions from the platforms, and checking our assignments against them.

What is verified when: a rater's `assignmentId`/`workerId` (MTurk) is taken at face
value when they arrive (MTurk only lists an assignment once its worker submits it, so
there is nothing to ask before); a Prolific `SESSION_ID`/`PROLIFIC_PID` is checked with
Prolific right after consent (services/entry.py) when it can be reached. At sync, every
completed session must appear on the platform, under the same worker, in one of this
experiment's HITs or studies. One that does not once its time to submit has passed is
forged: it is never paid, its votes are set invalid by a recorded screening override (so
they leave the MOS at the next computation) and its rater is blocked. Work the platform
has that we have no session for is rejected at payment time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.rating.models import Assignment
from crowdtest.rating.services import rater_block
from crowdtest.results.models import SessionVerdict
from crowdtest.results.services import assignment_screen, verdict_override

from ..base import Gateway
from ..gateways import gateway_for
from ..models import AssignmentCheck, Batch, Publication, Submission
from .caps import caps_apply

# After the platform's time to submit, how long to wait for its lists to show the work.
SUBMIT_GRACE = timedelta(hours=1)
CHECKED_PLATFORMS = ("mturk", "prolific")


@dataclass
class SyncReport:
    submissions: int = 0
    matched: int = 0
    unknown_here: int = 0
    other_worker: int = 0
    verified: int = 0
    unverified: int = 0
    forged: list[str] = field(default_factory=list)
    capped: int = 0

    def summary(self) -> str:
        text = (
            f"{self.submissions} submissions synced: {self.matched} matched, "
            f"{self.unknown_here} with no session here, {self.other_worker} by another worker; "
            f"sessions: {self.verified} verified, {self.unverified} not on the platform yet, "
            f"{len(self.forged)} forged"
        )
        if self.capped:
            text += f"; {self.capped} rater(s) put on the cap list"
        return text


def platform_sync(*, experiment: Experiment, now: datetime | None = None) -> SyncReport:
    """Fetch every submission of the experiment's HITs and studies, match them to our
    assignments, check every completed session, and catch up on the cap lists."""
    now = now or timezone.now()
    report = SyncReport()
    gateways: dict[tuple[str, bool], Gateway] = {}
    publications = Publication.objects.filter(experiment=experiment, platform__in=CHECKED_PLATFORMS)
    for publication in publications.filter(batches__isnull=False).distinct():
        key = (publication.platform, publication.sandbox)
        if key not in gateways:
            gateways[key] = gateway_for(platform=publication.platform, sandbox=publication.sandbox)
        ours = _ours(experiment, publication.platform)
        for batch in publication.batches.all():
            for remote in gateways[key].submissions(batch_id=batch.external_id):
                _store(batch, remote, ours, now, report)
        publication.synced_at = now
        publication.save(update_fields=["synced_at"])
    _check(experiment, now, report)
    report.capped = caps_apply(experiment=experiment)
    return report


def _ours(experiment: Experiment, platform: str) -> dict[str, dict[str, int]]:
    """Our assignments on the platform by its assignment id, then by worker: a forged
    session may reuse a real assignment id under another worker id."""
    rows = Assignment.objects.filter(experiment=experiment, rater__platform=platform).exclude(
        platform_assignment_id=""
    )
    ours: dict[str, dict[str, int]] = {}
    for ext, pk, worker in rows.values_list("platform_assignment_id", "pk", "rater__external_id"):
        ours.setdefault(ext, {})[worker] = pk
    return ours


def _store(
    batch: Batch, remote: Any, ours: dict[str, dict[str, int]], now: datetime, report: SyncReport
) -> None:
    found = ours.get(remote.external_id, {})
    if remote.worker_id in found:
        match, assignment_id = Submission.Match.MATCHED, found[remote.worker_id]
        report.matched += 1
    elif found:
        match, assignment_id = Submission.Match.OTHER_WORKER, None
        report.other_worker += 1
    else:
        match, assignment_id = Submission.Match.UNKNOWN_HERE, None
        report.unknown_here += 1
    Submission.objects.update_or_create(
        batch=batch,
        external_id=remote.external_id,
        defaults={
            "worker_id": remote.worker_id,
            "platform_status": remote.status,
            "match": match,
            "assignment_id": assignment_id,
            "submitted_at": remote.submitted_at,
            "synced_at": now,
        },
    )
    report.submissions += 1


def _check(experiment: Experiment, now: datetime, report: SyncReport) -> None:
    """The verdict on every completed MTurk/Prolific session not imported from a CSV."""
    batches = {
        ext: (platform, duration)
        for ext, platform, duration in Batch.objects.filter(
            publication__experiment=experiment, publication__platform__in=CHECKED_PLATFORMS
        ).values_list("external_id", "publication__platform", "publication__duration_s")
    }
    published_on = {platform for platform, _ in batches.values()}
    workers = {
        (platform, ext): worker
        for platform, ext, worker in Submission.objects.filter(
            batch__publication__experiment=experiment
        ).values_list("batch__publication__platform", "external_id", "worker_id")
    }
    assignments = Assignment.objects.filter(
        experiment=experiment,
        status=Assignment.Status.COMPLETED,
        rater__platform__in=CHECKED_PLATFORMS,
        imported_from__isnull=True,
    ).select_related("rater")
    for assignment in assignments:
        state, detail = _state(assignment, batches, published_on, workers, now)
        if state == AssignmentCheck.State.VERIFIED:
            report.verified += 1
        elif state == AssignmentCheck.State.UNVERIFIED:
            report.unverified += 1
        _record(assignment, state, detail, now, report)


def _state(
    assignment: Assignment,
    batches: dict[str, tuple[str, int]],
    published_on: set[str],
    workers: dict[tuple[str, str], str],
    now: datetime,
) -> tuple[str, str]:
    platform, worker = assignment.rater.platform, assignment.rater.external_id
    label = "MTurk" if platform == "mturk" else "Prolific"
    submitted_by = workers.get((platform, assignment.platform_assignment_id))
    if submitted_by == worker:
        return AssignmentCheck.State.VERIFIED, ""
    if submitted_by is not None:
        return AssignmentCheck.State.FORGED, (
            f"{label} says {submitted_by} did {assignment.platform_assignment_id}, not {worker}"
        )
    if platform not in published_on:
        return AssignmentCheck.State.UNVERIFIED, f"nothing was published on {label} by crowdtest"
    batch = batches.get(assignment.platform_batch_id)
    if batch is None or batch[0] != platform:
        return AssignmentCheck.State.FORGED, (
            f"{assignment.platform_batch_id or '(none)'} is not one of this experiment's "
            f"{label} batches"
        )
    deadline = (assignment.finished_at or now) + timedelta(seconds=batch[1]) + SUBMIT_GRACE
    if now < deadline:
        return AssignmentCheck.State.UNVERIFIED, f"not on {label} yet"
    return AssignmentCheck.State.FORGED, (
        f"{label} does not know {assignment.platform_assignment_id or '(none)'} of {worker}"
    )


def _record(
    assignment: Assignment, state: str, detail: str, now: datetime, report: SyncReport
) -> None:
    previous = AssignmentCheck.objects.filter(assignment=assignment).first()
    AssignmentCheck.objects.update_or_create(
        assignment=assignment, defaults={"state": state, "detail": detail[:300], "checked_at": now}
    )
    if state != AssignmentCheck.State.FORGED:
        return
    report.forged.append(f"assignment {assignment.pk}: {detail}")
    if previous is not None and previous.state == AssignmentCheck.State.FORGED:
        return  # refused already
    with transaction.atomic():
        if not SessionVerdict.objects.filter(assignment=assignment).exists():
            assignment_screen(assignment=assignment)
        verdict_override(
            assignment=assignment,
            valid=False,
            note=f"Not known to the crowd platform at sync: {detail}.",
            by=None,
        )
        rater_block(rater_id=assignment.rater_id)
