"""A task sent through Redis to a real Celery worker process, and its result read back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from celery import Celery

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_task_round_trip_through_redis_and_a_worker_process(celery_worker_process: Celery) -> None:
    result = celery_worker_process.send_task(
        "crowdtest.ping", kwargs={"value": "vinyl"}, queue="default"
    )
    reply = result.get(timeout=30)
    assert reply["echo"] == "vinyl"
    assert reply["pid"] != str(os.getpid())
    assert result.state == "SUCCESS"


def test_stimulus_prepared_by_a_worker_on_the_audio_queue(
    celery_worker_process: Celery, tmp_path: Path
) -> None:
    """The real task, through Redis, in another process, writing to the test database."""
    from crowdtest.corpus.models import Stimulus
    from crowdtest.corpus.services import experiment_create, tracks_import
    from crowdtest.jobs.models import Job
    from crowdtest.jobs.services import job_create, job_start
    from modeling.synth import write_demo_corpus

    write_demo_corpus(tmp_path / "archive", n_tracks=1, seconds=3.0, sample_rate=16000, seed=1)
    experiment = experiment_create(slug="worker", name="w", settings={"excerpt_seconds": 2.0})
    tracks_import(experiment=experiment, source=str(tmp_path / "archive"))
    stimulus = Stimulus.objects.create(experiment=experiment, track=experiment.tracks.get())
    job = job_create(kind="prepare_stimuli", scope=experiment.job_scope, total=1)
    job_start(job_id=job.pk)

    result = celery_worker_process.send_task(
        "crowdtest.corpus.tasks.prepare_stimulus",
        kwargs={"stimulus_id": stimulus.pk, "job_id": job.pk},
        queue="audio",
    )

    assert result.get(timeout=120) == "ready"
    stimulus.refresh_from_db()
    job.refresh_from_db()
    assert stimulus.status == Stimulus.Status.READY
    assert stimulus.lufs_after is not None and abs(stimulus.lufs_after + 23) < 0.5
    assert (job.status, job.done) == (Job.Status.SUCCEEDED, 1)
