"""Hooks on the rating flow, kept here so the rating app knows nothing of platforms:

- when a rater completes the session that reaches the cap, they are put on the
  platform's cap list (a task, after the commit: never a network call inside the
  rater's request; `sync_platform` catches up on any that failed);
- when a Prolific rater starts a session, it carries the study's completion code, the
  one Prolific accepts when the page sends them back, and a task asks Prolific whether
  the place they came with is theirs (services/entry.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from crowdtest.jobs.dispatch import enqueue
from crowdtest.rating.models import Assignment
from crowdtest.rating.services import assignment_set_completion_code

from .models import Publication


@receiver(post_save, sender=Assignment, dispatch_uid="platforms.assignment_saved")
def assignment_saved(
    sender: Any, instance: Assignment, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if kwargs.get("raw"):
        return
    if created:
        if instance.platform_batch_id and instance.rater.platform == "prolific":
            _study_completion_code(instance)
            from .tasks import check_entry_task

            enqueue(check_entry_task, assignment_id=instance.pk)  # after the commit
        return
    completed = instance.status == Assignment.Status.COMPLETED
    status_saved = bool(update_fields) and "status" in update_fields
    if not (completed and status_saved):
        return
    # `ordinal` is the rater's nth completed session: only the one reaching the cap counts.
    at_cap = (instance.ordinal or 0) >= instance.experiment.config.max_sessions_per_rater
    if at_cap and instance.rater.platform in ("mturk", "prolific"):
        from .tasks import apply_cap_task

        enqueue(apply_cap_task, rater_id=instance.rater_id)


def _study_completion_code(assignment: Assignment) -> None:
    code = (
        Publication.objects.filter(
            experiment_id=assignment.experiment_id,
            platform="prolific",
            batches__external_id=assignment.platform_batch_id,
        )
        .exclude(completion_code="")
        .values_list("completion_code", flat=True)
        .first()
    )
    if code:
        assignment_set_completion_code(assignment=assignment, code=code)
