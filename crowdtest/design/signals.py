"""What the design announces to the apps above it, which own the rows built on it (the
rating app's assignments and votes). Receivers live in those apps, so design imports
none of them; each signal says what its receivers must do."""

from __future__ import annotations

from django.dispatch import Signal

from crowdtest.corpus.models import Experiment

# Sent with `experiment` before a design is built or replaced. A receiver returns a reason
# (a sentence) when the design may no longer be replaced, or None.
design_locked = Signal()

# Sent with `experiment` inside the transaction that replaces the design, before its
# sessions are deleted: receivers delete what they built on those sessions.
design_replacing = Signal()


def design_lock_reason(*, experiment: Experiment) -> str | None:
    """Why the experiment's design can no longer be replaced, or None when it can."""
    for _receiver, reason in design_locked.send(sender=Experiment, experiment=experiment):
        if reason:
            return str(reason)
    return None
