"""The rating app's answers to what the design announces (`crowdtest.design.signals`): a
design with votes on its sessions is locked, and replacing one deletes the assignments
taken on its sessions. Rating owns those rows, so it alone writes them."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from crowdtest.corpus.models import Experiment
from crowdtest.design.signals import design_locked, design_replacing

from .models import Assignment, Vote


@receiver(design_locked, dispatch_uid="rating.votes_lock_the_design")
def votes_lock_the_design(sender: Any, experiment: Experiment, **kwargs: Any) -> str | None:
    if Vote.objects.crowd().filter(experiment=experiment).exists():
        return "Votes have already been collected on these sessions"
    return None


@receiver(design_replacing, dispatch_uid="rating.assignments_of_a_replaced_design")
def assignments_of_a_replaced_design(sender: Any, experiment: Experiment, **kwargs: Any) -> None:
    Assignment.objects.filter(experiment=experiment).delete()
