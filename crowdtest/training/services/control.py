"""How a long gpu task learns that it must stop: its job's cancel flag, polled at most
every few seconds (training asks before every batch), or its time limit coming near
(`settings.GPU_HANDOVER_MARGIN_S` before it), in which case the task queues its own
continuation instead of being killed."""

from __future__ import annotations

import time

from django.conf import settings

from crowdtest.celery import GPU_TIME_LIMIT
from crowdtest.jobs.services import job_cancel_requested

#: Seconds between two reads of the cancel flag while training.
CANCEL_POLL_SECONDS = 3.0


def task_deadline() -> float:
    """When a gpu task that starts now should hand over to its continuation."""
    return time.monotonic() + GPU_TIME_LIMIT - settings.GPU_HANDOVER_MARGIN_S


class StopControl:
    """The `should_stop` callable of the modelling loops."""

    def __init__(self, *, job_id: int | None, deadline: float | None) -> None:
        self.job_id = job_id
        self.deadline = deadline
        self.cancelled = False
        self.out_of_time = False
        self._polled = 0.0

    def poll(self) -> bool:
        """Read the cancel flag now."""
        if self.job_id is not None and job_cancel_requested(job_id=self.job_id):
            self.cancelled = True
        self._polled = time.monotonic()
        return self.cancelled

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            self.out_of_time = True
        if not self.cancelled and now - self._polled >= CANCEL_POLL_SECONDS:
            self.poll()
        return self.cancelled or self.out_of_time
