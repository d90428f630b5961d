"""The one shape of our Celery tasks.

Every task takes ids, loads rows and calls one service that is idempotent through a status
field, so it is safe to deliver again: acknowledged late (a task whose worker dies runs
again), bounded retries of database outages only, a hard time limit with a soft one a
little before it so the service can stop cleanly. A task whose worker *process* was
killed (out of memory, say) is failed, not redelivered, unless it asks for
`reject_on_worker_lost` (the gpu tasks, which resume from their checkpoints): redelivering
a file that kills its worker would loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import OperationalError


def durable_task(
    name: str, *, time_limit: int, soft_margin: int | None = None, **options: Any
) -> Callable[[Callable[..., Any]], Any]:
    margin = soft_margin if soft_margin is not None else max(30, time_limit // 20)
    settings: dict[str, Any] = {
        "name": name,
        "acks_late": True,
        "time_limit": time_limit,
        "soft_time_limit": time_limit - margin,
        "autoretry_for": (OperationalError,),
        "retry_backoff": True,
        "max_retries": 3,
    }
    settings.update(options)
    decorator: Callable[[Callable[..., Any]], Any] = shared_task(**settings)
    return decorator
