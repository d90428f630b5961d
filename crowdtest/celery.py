"""The Celery application: queues, routing and the delivery guarantees of long tasks.

Queues: `default` (bookkeeping), `audio` (stimulus preparation, features, prompts) and
`gpu` (training, evaluation, archive scoring). Long tasks acknowledge late and workers
prefetch one task at a time, so a task whose worker dies is delivered again instead of
lost (a task whose pool process alone was killed is failed, except the gpu tasks, which
resume from checkpoints); the broker's visibility timeout is longer than the longest time
limit, so a task that is still running is never handed to a second worker.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdtest.settings")

# Hard time limits, in seconds. A gpu task is one fold or one scoring chunk and resumes
# from its last checkpoint when delivered again.
DEFAULT_TIME_LIMIT = 30 * 60
AUDIO_TIME_LIMIT = 10 * 60
GPU_TIME_LIMIT = 6 * 60 * 60
VISIBILITY_TIMEOUT = GPU_TIME_LIMIT + 60 * 60

QUEUES = ("default", "audio", "gpu")
ROUTES = {
    "crowdtest.training.tasks.*": {"queue": "gpu"},
    "crowdtest.corpus.tasks.*": {"queue": "audio"},
    "crowdtest.design.tasks.*": {"queue": "audio"},
}

app = Celery("crowdtest")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    task_routes=ROUTES,
    task_acks_late=True,
    # A task whose pool process was killed (out of memory on a huge file, say) is failed,
    # not put back: redelivering it would kill the next process too. The gpu tasks, which
    # resume from checkpoints, ask for redelivery themselves (`durable_task`).
    task_reject_on_worker_lost=False,
    worker_prefetch_multiplier=1,
    task_time_limit=DEFAULT_TIME_LIMIT,
    task_soft_time_limit=DEFAULT_TIME_LIMIT - 60,
    task_track_started=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=7 * 24 * 3600,
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    broker_connection_retry_on_startup=True,
    worker_max_tasks_per_child=200,
    timezone="UTC",
)
app.conf.beat_schedule = {
    # Sessions of raters silent for longer than their experiment's session timeout go back
    # to the pool (allocation also checks, so this only keeps the counts current).
    "release-abandoned-sessions": {
        "task": "crowdtest.rating.tasks.release_abandoned",
        "schedule": 300.0,
    },
    # Submissions of every experiment published on MTurk or Prolific, matched and checked.
    "sync-platforms": {
        "task": "crowdtest.platforms.tasks.sync_platform",
        "schedule": 900.0,
    },
}
app.autodiscover_tasks()


@app.task(name="crowdtest.ping")
def ping(value: str) -> dict[str, str]:
    """Round-trip check used by health checks and the broker test."""
    import socket

    return {"echo": value, "host": socket.gethostname(), "pid": str(os.getpid())}
