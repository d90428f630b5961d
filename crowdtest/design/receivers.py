"""The design's answers to what the corpus asks (`crowdtest.corpus.signals`): clusters
and the test method that sessions were built on stay as they are, and so do the settings
the design was built with once it can no longer be replaced."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.signals import (
    clustering_locked,
    design_settings_locked,
    test_method_locked,
)

from .models import Session
from .signals import design_lock_reason


@receiver(clustering_locked, dispatch_uid="design.sessions_lock_the_clusters")
def sessions_lock_the_clusters(sender: Any, experiment: Experiment, **kwargs: Any) -> str | None:
    if Session.objects.filter(experiment=experiment).exists():
        return "Sessions are already built on the current clusters"
    return None


@receiver(test_method_locked, dispatch_uid="design.sessions_lock_the_test_method")
def sessions_lock_the_test_method(sender: Any, experiment: Experiment, **kwargs: Any) -> str | None:
    if Session.objects.filter(experiment=experiment).exists():
        return "Sessions are already built for the current test method"
    return None


@receiver(design_settings_locked, dispatch_uid="design.collected_data_lock_the_settings")
def collected_data_lock_the_settings(
    sender: Any, experiment: Experiment, **kwargs: Any
) -> str | None:
    return design_lock_reason(experiment=experiment)
