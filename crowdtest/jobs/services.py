"""Writes to jobs. Progress updates are single UPDATE statements so that many workers
can report on the same job at once without losing counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Job


class JobError(Exception):
    pass


def job_create(*, kind: str, scope: str = "", total: int = 0, created_by: Any = None) -> Job:
    return Job.objects.create(kind=kind, scope=scope, total=total, created_by=created_by)


def job_claim(*, job_id: int, stale_after: timedelta) -> bool:
    """Claim a job for the task about to do it: False when it has ended, or when another
    delivery of the task is running it (progress within `stale_after`); otherwise it is
    marked running now and True. A claim with no progress for `stale_after` is taken over."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return False
        if job.status == Job.Status.RUNNING and now - job.updated_at < stale_after:
            return False
        Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, updated_at=now)
    return True


def job_set_counts(*, job_id: int, done: int = 0, failed: int = 0) -> None:
    """Set the counts outright (a resumed job starts from the items already done)."""
    Job.objects.filter(pk=job_id).update(done=done, failed=failed)


def job_start(*, job_id: int, total: int | None = None, message: str = "") -> None:
    fields: dict[str, Any] = {"status": Job.Status.RUNNING, "updated_at": timezone.now()}
    if total is not None:
        fields["total"] = total
    if message:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(
        started_at=timezone.now(), **fields
    )
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(**fields)


def job_advance(
    *, job_id: int, done: int = 0, failed: int = 0, message: str = "", finishes: bool = True
) -> None:
    """Count finished items. Once every item is counted the job has succeeded, or failed
    when no item succeeded (a missing tool fails every item: that is not done). A job
    whose work ends with a step of its own (`finishes=False`, e.g. a build saving what it
    made) is ended by that step (`job_finish` or `job_fail`), never by its count."""
    fields: dict[str, Any] = {
        "done": F("done") + done,
        "failed": F("failed") + failed,
        "updated_at": timezone.now(),
    }
    if message:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job_id).update(**fields)
    if not finishes:
        return
    now = timezone.now()
    counted = Job.objects.filter(
        pk=job_id, status=Job.Status.RUNNING, total__gt=0, total__lte=F("done") + F("failed")
    )
    # Every item failed: the job failed, with the last item's reason as its error.
    counted.filter(done=0).update(status=Job.Status.FAILED, finished_at=now, error=F("message"))
    counted.update(status=Job.Status.SUCCEEDED, finished_at=now)


def job_report(*, job_id: int, message: str, detail: dict[str, Any] | None = None) -> None:
    """Replace the free-text progress line (and structured detail, e.g. losses)."""
    fields: dict[str, Any] = {"message": message[:500], "updated_at": timezone.now()}
    if detail is not None:
        fields["detail"] = detail
    Job.objects.filter(pk=job_id).update(**fields)


def job_finish(*, job_id: int, message: str = "") -> None:
    fields: dict[str, Any] = {"status": Job.Status.SUCCEEDED, "finished_at": timezone.now()}
    if message:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED).update(**fields)


def job_fail(*, job_id: int, error: str) -> None:
    Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED).update(
        status=Job.Status.FAILED, error=error[:10_000], finished_at=timezone.now()
    )


def job_request_cancel(*, job_id: int) -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            raise JobError(f"Job {job.pk} has already finished ({job.status}).")
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested", "updated_at"])
    return job


def job_mark_cancelled(*, job_id: int) -> None:
    Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now()
    )


def job_cancel_requested(*, job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()
