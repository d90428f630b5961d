"""Rating tasks: thin wrappers around one service each."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="crowdtest.rating.tasks.release_abandoned",
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def release_abandoned_task() -> int:
    """Give the sessions of raters gone silent back to the pool (periodic, idempotent)."""
    from .allocation import assignments_release_abandoned

    return assignments_release_abandoned()
