"""Every task has the delivery guarantees of a long task."""

from __future__ import annotations

from crowdtest.celery import app


def test_our_tasks_acknowledge_late_and_have_time_limits() -> None:
    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if name.startswith("crowdtest.")}
    assert "crowdtest.training.tasks.train_fold" in ours
    for name, task in ours.items():
        assert task.time_limit or name == "crowdtest.ping", name
        if name in {"crowdtest.ping", "crowdtest.platforms.tasks.execute_payments"}:
            continue  # a ping; payments resume from their ledger instead of a redelivery
        assert task.acks_late, name
        soft, hard = task.soft_time_limit, task.time_limit
        assert soft is not None and hard is not None and soft < hard, name
        # Only tasks that resume from a checkpoint are redelivered when their process dies.
        # Only the gpu tasks, which resume from checkpoints, come back after their process
        # was killed; a file that kills its process must not loop.
        assert bool(task.reject_on_worker_lost) == (".training." in name), name
