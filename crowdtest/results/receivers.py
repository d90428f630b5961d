"""Hooks on the rating flow, kept here so the rating app knows nothing of results: a
session that is finished is screened at once (a task, after the commit), so the
dashboard and adaptive collection are live; and a session that starts under adaptive
collection learns which of its stimuli need no more votes."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.dispatch import enqueue
from crowdtest.rating.models import Assignment
from crowdtest.rating.signals import stimuli_precision, stimuli_saturated

from .selectors import saturated_stimulus_ids, stimulus_vote_stats


@receiver(post_save, sender=Assignment, dispatch_uid="results.assignment_finished")
def assignment_finished(
    sender: Any, instance: Assignment, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if kwargs.get("raw") or created:
        return
    finished = instance.status == Assignment.Status.COMPLETED
    if finished and update_fields and "status" in update_fields:
        if instance.rater.is_preview:
            return  # a staff preview is never screened
        from .tasks import screen_assignment_task

        enqueue(screen_assignment_task, assignment_id=instance.pk)


@receiver(stimuli_saturated, dispatch_uid="results.stimuli_saturated")
def saturated_stimuli(
    sender: Any, experiment: Experiment, among: Collection[int], **kwargs: Any
) -> set[int]:
    return saturated_stimulus_ids(experiment=experiment, among=among)


@receiver(stimuli_precision, dispatch_uid="results.stimuli_precision")
def stimuli_precision_known(
    sender: Any, experiment: Experiment, among: Collection[int], **kwargs: Any
) -> dict[int, tuple[int, float | None]]:
    return {
        s.stimulus_id: (s.n, None if s.ci95_t is None else 2 * s.ci95_t)
        for s in stimulus_vote_stats(experiment=experiment, stimulus_ids=among)
    }
