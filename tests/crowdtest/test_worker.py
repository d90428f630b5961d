"""A task sent through Redis to a real Celery worker process, and its result read back."""

from __future__ import annotations

import os
from typing import Any

import pytest

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_task_round_trip_through_redis_and_a_worker_process(celery_worker_process: Any) -> None:
    result = celery_worker_process.send_task(
        "crowdtest.ping", kwargs={"value": "vinyl"}, queue="default"
    )
    reply = result.get(timeout=30)
    assert reply["echo"] == "vinyl"
    assert reply["pid"] != str(os.getpid())
    assert result.state == "SUCCESS"
