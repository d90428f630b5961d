"""A fold task through a real Celery worker on Redis, routed to the gpu queue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from crowdtest.celery import app
from crowdtest.training.models import ModelRun
from crowdtest.training.services import run_start

from .conftest import labelled_experiment

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_a_final_model_trains_on_a_gpu_queue_worker(
    celery_worker_process: Celery, tiny_backbone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "crowdtest.training.services.runs.enqueue", lambda task, **kwargs: sent.append(kwargs)
    )
    run = run_start(
        experiment=labelled_experiment(8, slug="on-a-worker"),
        kind=ModelRun.Kind.FINAL,
        backbone=str(tiny_backbone),
        max_epochs=1,
        device="cpu",
    )
    assert sent == [{"run_id": run.pk, "fold": 0}]
    name = "crowdtest.training.tasks.train_fold"
    queue = app.amqp.router.route({}, name)["queue"].name
    assert queue == "gpu"
    result = celery_worker_process.send_task(name, kwargs=sent[0], queue=queue)
    assert result.get(timeout=180) == "trained"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            break
        time.sleep(0.2)
    assert run.status == ModelRun.Status.SUCCEEDED
    assert run.job is not None and run.job.status == "succeeded"
    assert (Path(run.folds.get().model_dir) / "w2vmos.json").is_file()
