"""Cancel, and resumption after a worker dies: finished folds and saved epochs are never
trained again. Tasks run in-process; a "kill" is an exception no handler catches,
raised right after an epoch's checkpoint, which leaves the rows as a dead worker would."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.signals import task_postrun
from django.db import connection
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from crowdtest.celery import GPU_TIME_LIMIT
from crowdtest.corpus.models import Experiment
from crowdtest.jobs.models import Job
from crowdtest.training.models import ModelRun
from crowdtest.training.services import TrainingError, run_cancel, run_resume, run_start
from crowdtest.training.tasks import train_fold_task

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Like SIGKILL: no `except Exception` sees it."""


Epochs = list[tuple[int, int]]  # (fold, epoch) as reported


def _json_param(value: Any) -> Any:
    """A JSON column's value as the query sends it: psycopg's Jsonb, or SQLite's text."""
    if hasattr(value, "obj"):
        return value.obj
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


@pytest.fixture
def epochs() -> Iterator[tuple[Epochs, list[Callable[..., None]]]]:
    """Every (fold, epoch) the training reports on its job, and hooks run after each
    report. Seen at the database boundary (Django's execute_wrapper): the job's progress
    update carries the epoch in its detail, written after the epoch's checkpoint."""
    seen: Epochs = []
    hooks: list[Callable[..., None]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "jobs_job"') and not many and '"detail"' in sql:
            for value in params or ():
                detail = _json_param(value)
                if isinstance(detail, dict) and "epoch" in detail:
                    seen.append((detail["fold"], detail["epoch"]))
                    for hook in hooks:
                        hook(job_id=int(params[-1]), fold=detail["fold"], epoch=detail["epoch"])
        return result

    with connection.execute_wrapper(wrapper):
        yield seen, hooks


def start(experiment: Experiment, backbone: Path, capture: Any, **kwargs: Any) -> ModelRun:
    with capture(execute=True):
        run = run_start(
            experiment=experiment,
            backbone=str(backbone),
            device="cpu",
            lr_backbone=1e-3,
            lr_head=1e-2,
            **kwargs,
        )
    run.refresh_from_db()
    return run


def test_cancel_stops_training_at_the_next_batch_and_resume_continues(
    make_experiment: Callable[..., Experiment],
    tiny_backbone: Path,
    epochs: tuple[Epochs, list[Callable[..., None]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    seen, hooks = epochs

    def cancel_after_first_epoch(*, job_id: int, fold: int, epoch: int) -> None:
        if epoch == 1:  # the staff clicks Cancel while the model trains
            run_cancel(run=ModelRun.objects.get(job_id=job_id))

    hooks.append(cancel_after_first_epoch)
    experiment = make_experiment(12)
    run = start(
        experiment, tiny_backbone, django_capture_on_commit_callbacks, max_epochs=2, kind="final"
    )

    assert run.status == ModelRun.Status.CANCELLED and seen == [(0, 1)]
    assert run.job is not None and run.job.status == Job.Status.CANCELLED
    assert list(run.folds.values_list("status", "epochs_run")) == [("cancelled", 1)]
    with pytest.raises(TrainingError, match="has already finished"):
        run_cancel(run=run)

    hooks.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_resume(run=run)
    run.refresh_from_db()
    assert run.status == ModelRun.Status.SUCCEEDED and run.job is not None
    assert run.job.status == Job.Status.SUCCEEDED
    assert seen == [(0, 1), (0, 2)]  # went on from its saved epoch 1
    final = run.folds.get()
    assert [h["epoch"] for h in final.history] == [1, 2]
    assert (final.n_train, final.n_val, final.n_test) == (10, 2, 0)
    assert (Path(final.model_dir) / "w2vmos.json").is_file()


def test_a_fold_killed_mid_run_resumes_from_its_last_epoch_when_delivered_again(
    make_experiment: Callable[..., Experiment],
    tiny_backbone: Path,
    epochs: tuple[Epochs, list[Callable[..., None]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    seen, hooks = epochs

    def kill(*, job_id: int, fold: int, epoch: int) -> None:
        if (fold, epoch) == (1, 1):
            raise WorkerKilled

    hooks.append(kill)
    experiment = make_experiment(8)
    with pytest.raises(WorkerKilled):
        start(experiment, tiny_backbone, django_capture_on_commit_callbacks, max_epochs=2, folds=2)
    run = ModelRun.objects.get(experiment=experiment)
    assert run.status == ModelRun.Status.RUNNING  # as a dead worker leaves it
    assert list(run.folds.values_list("status", flat=True)) == ["succeeded", "running"]
    assert (run.path / "crossval" / "fold-1" / "train" / "last.pt").is_file()

    hooks.clear()
    seen.clear()
    with django_capture_on_commit_callbacks(execute=True):  # the broker delivers it again
        train_fold_task.apply(kwargs={"run_id": run.pk, "fold": 1}, throw=True)
    run.refresh_from_db()
    assert run.status == ModelRun.Status.SUCCEEDED
    assert seen == [(1, 2)]  # fold 0 kept, fold 1 went on from its saved epoch 1
    assert [h["epoch"] for h in run.folds.get(index=1).history] == [1, 2]

    # A late duplicate of a finished fold's task changes nothing.
    seen.clear()
    assert train_fold_task.apply(kwargs={"run_id": run.pk, "fold": 0}).get() == "run succeeded"
    assert seen == []


def test_only_failed_or_cancelled_runs_resume(
    make_experiment: Callable[..., Experiment],
    tiny_backbone: Path,
) -> None:
    run = run_start(experiment=make_experiment(8), backbone=str(tiny_backbone), device="cpu")
    with pytest.raises(TrainingError, match="Only a failed or cancelled run can be resumed"):
        run_resume(run=run)
    assert run_cancel(run=run).status == ModelRun.Status.CANCELLED  # queued: at once


def test_a_task_near_its_time_limit_hands_over_to_a_continuation(
    request: pytest.FixtureRequest,
    settings: Settings,
    make_experiment: Callable[..., Experiment],
    tiny_backbone: Path,
    epochs: tuple[Epochs, list[Callable[..., None]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The first task finds its deadline passed at its first batch (a hand-over margin
    longer than the time limit): it saves nothing, queues its continuation and returns;
    the continuation, under the usual margin, trains the fold."""
    usual = settings.GPU_HANDOVER_MARGIN_S
    settings.GPU_HANDOVER_MARGIN_S = GPU_TIME_LIMIT + 60
    results: list[str] = []

    def finished(sender: Any = None, retval: Any = None, **kwargs: Any) -> None:
        if sender is not None and sender.name == train_fold_task.name:
            results.append(retval)
            settings.GPU_HANDOVER_MARGIN_S = usual

    task_postrun.connect(finished, weak=False)
    request.addfinalizer(lambda: task_postrun.disconnect(finished))
    run = start(
        make_experiment(8),
        tiny_backbone,
        django_capture_on_commit_callbacks,
        max_epochs=1,
        kind="final",
    )
    assert results == ["continues in a new task", "trained"]
    assert run.status == ModelRun.Status.SUCCEEDED and epochs[0] == [(0, 1)]
