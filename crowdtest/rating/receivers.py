"""The rating app's answers to what the design announces (`crowdtest.design.signals`): a
design with votes on its sessions is locked, and replacing one deletes the assignments
taken on its sessions. Rating owns those rows, so it alone writes them. A saved design or
experiment also drops the process's estimate of a session's minutes (`selectors`)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Design
from crowdtest.design.signals import design_locked, design_replacing

from .models import Assignment, Vote
from .selectors import session_minutes_forget


@receiver(design_locked, dispatch_uid="rating.votes_lock_the_design")
def votes_lock_the_design(sender: Any, experiment: Experiment, **kwargs: Any) -> str | None:
    if Vote.objects.crowd().filter(experiment=experiment).exists():
        return "Votes have already been collected on these sessions"
    return None


@receiver(design_replacing, dispatch_uid="rating.assignments_of_a_replaced_design")
def assignments_of_a_replaced_design(sender: Any, experiment: Experiment, **kwargs: Any) -> None:
    Assignment.objects.filter(experiment=experiment).delete()


@receiver(post_save, sender=Experiment, dispatch_uid="rating.minutes_of_a_saved_experiment")
@receiver(post_delete, sender=Experiment, dispatch_uid="rating.minutes_of_a_deleted_experiment")
def minutes_of_a_changed_experiment(sender: Any, instance: Experiment, **kwargs: Any) -> None:
    session_minutes_forget(experiment_id=instance.pk)


@receiver(post_save, sender=Design, dispatch_uid="rating.minutes_of_a_saved_design")
@receiver(post_delete, sender=Design, dispatch_uid="rating.minutes_of_a_deleted_design")
def minutes_of_a_changed_design(sender: Any, instance: Design, **kwargs: Any) -> None:
    session_minutes_forget(experiment_id=instance.experiment_id)
