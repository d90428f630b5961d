"""A scoring deleted while it runs (its model run deleted, say, or the experiment)
takes its shards and stored results with it; its job stays behind for the pages, so it
is failed here with the reason instead of showing "running" for ever. The shard tasks
still queued find no scoring and end at once."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from crowdtest.jobs.services import job_fail

from .models import FINISHED, ScoringRun


@receiver(pre_delete, sender=ScoringRun, dispatch_uid="training-scoring-deleted")
def fail_job_of_deleted_scoring(sender: Any, instance: ScoringRun, **kwargs: Any) -> None:
    if instance.job_id and instance.status not in FINISHED:
        job_fail(
            job_id=instance.job_id,
            error=f"Scoring #{instance.pk} was deleted (with its model run {instance.run_id}) "
            "before it finished; nothing more is scored.",
        )
