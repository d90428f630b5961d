"""Hooks on the rating flow, kept here so the rating app knows nothing of results: a
session that is finished is screened at once (a task, after the commit), so the
dashboard and adaptive collection are live."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from crowdtest.jobs.dispatch import enqueue
from crowdtest.rating.models import Assignment


@receiver(post_save, sender=Assignment, dispatch_uid="results.assignment_finished")
def assignment_finished(
    sender: Any, instance: Assignment, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if kwargs.get("raw") or created:
        return
    finished = instance.status == Assignment.Status.COMPLETED
    if finished and update_fields and "status" in update_fields:
        from .tasks import screen_assignment_task

        enqueue(screen_assignment_task, assignment_id=instance.pk)
