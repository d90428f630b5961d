"""How a job's counted progress ends it."""

from __future__ import annotations

import pytest

from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_advance, job_create, job_fail, job_finish, job_start

pytestmark = pytest.mark.django_db


def test_counting_every_item_ends_a_job() -> None:
    job = job_create(kind="prepare_stimuli", scope="experiment:1")
    job_start(job_id=job.pk, total=2)
    job_advance(job_id=job.pk, done=1)
    job_advance(job_id=job.pk, failed=1)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


def test_a_job_ended_by_its_own_last_step_fails_when_that_step_fails() -> None:
    """A build counts its steps, then saves what it made: had the count ended it, the
    save's failure would be lost and the job shown as succeeded."""
    job = job_create(kind="build_sessions", scope="experiment:1")
    job_start(job_id=job.pk, total=2)
    for _ in range(3):  # even past its total
        job_advance(job_id=job.pk, done=1, finishes=False)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    job_fail(job_id=job.pk, error="the design could not be saved")
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.FAILED, "the design could not be saved")
    finished = job_create(kind="build_sessions", scope="experiment:2")
    job_start(job_id=finished.pk, total=1)
    job_advance(job_id=finished.pk, done=1, finishes=False)
    job_finish(job_id=finished.pk, message="built")
    finished.refresh_from_db()
    assert finished.status == Job.Status.SUCCEEDED
