"""Queues, routing and delivery guarantees of the Celery app."""

from __future__ import annotations

from crowdtest.celery import GPU_TIME_LIMIT, VISIBILITY_TIMEOUT, app


def queue_for(task_name: str) -> str:
    route = app.amqp.router.route({}, task_name)
    return str(route["queue"].name)


def test_three_queues_with_default() -> None:
    assert {q.name for q in app.conf.task_queues} == {"default", "audio", "gpu"}
    assert app.conf.task_default_queue == "default"


def test_training_goes_to_gpu_and_audio_work_to_audio() -> None:
    assert queue_for("crowdtest.training.tasks.train_fold") == "gpu"
    assert queue_for("crowdtest.corpus.tasks.prepare_stimulus") == "audio"
    assert queue_for("crowdtest.ping") == "default"


def test_long_tasks_are_neither_lost_nor_run_twice() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is False  # the gpu tasks ask for it
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_time_limit is not None
    longest = max(app.conf.task_time_limit, GPU_TIME_LIMIT)
    assert app.conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT
    assert longest < VISIBILITY_TIMEOUT
