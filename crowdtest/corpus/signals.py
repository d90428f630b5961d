"""What the corpus asks of the apps above it (design), which it does not import:
receivers live in those apps and answer through the signal's responses."""

from __future__ import annotations

from django.dispatch import Signal

from .models import Experiment

# Sent with `experiment` before the stimuli are clustered again. A receiver returns a
# reason (a sentence) when the clusters are in use and must stay as they are, or None.
clustering_locked = Signal()


def clustering_lock_reason(*, experiment: Experiment) -> str | None:
    """Why the experiment's clusters can't change, or None when they can."""
    for _receiver, reason in clustering_locked.send(sender=Experiment, experiment=experiment):
        if reason:
            return str(reason)
    return None


# Sent with `experiment` before a setting that shaped the design changes. A receiver
# returns a reason when the design can no longer be replaced (its data are collected), or
# None.
design_settings_locked = Signal()


def design_settings_lock_reason(*, experiment: Experiment) -> str | None:
    """Why the settings the design was built with can't change, or None when they can."""
    for _receiver, reason in design_settings_locked.send(sender=Experiment, experiment=experiment):
        if reason:
            return str(reason)
    return None


# Sent with `experiment` before its test method changes. A receiver returns a reason when
# sessions were built for the current method, or None.
test_method_locked = Signal()


def test_method_lock_reason(*, experiment: Experiment) -> str | None:
    """Why the experiment's test method can't change, or None when it can."""
    for _receiver, reason in test_method_locked.send(sender=Experiment, experiment=experiment):
        if reason:
            return str(reason)
    return None
