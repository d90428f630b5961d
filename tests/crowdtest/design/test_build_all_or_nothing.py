"""A session build is all or nothing: cancelled or failed at any stage, it leaves the
experiment's rows and files as they were (no prompt row whose file it deleted), the next
build succeeds, and a task delivered twice builds once.

Failures are made at the database boundary: Django's execute_wrapper watches the job's
progress updates (which name the stage) and, at the chosen stage, requests cancellation
or fails the query as a full disk would."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from pytest_django import DjangoDbBlocker

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Design, DigitsClip, Prompt, Trap
from crowdtest.design.services import design_build, prompt_reset
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_create
from tests.conftest import IN_CI

from .test_build_sessions import prepared_experiment, wipe

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("espeak-ng") and shutil.which("ffmpeg")) and not IN_CI,
        reason="needs espeak-ng and ffmpeg",
    ),
]

SETTINGS = {
    "excerpt_seconds": 2.0,
    "n_clusters": 2,
    "stimuli_per_cluster": 2,
    "training_size": 2,
    "trap_sources": 1,
    "votes_per_stimulus": 2,
    "delivery_bitrate_kbps": 64,
    "seed": 5,
}
# The job's progress messages, one per stage of the build.
STAGES = ["spoke trap-3", "training clips", "trap 1 of", "digits clips", "volume clip", "sessions"]


@pytest.fixture(scope="module")
def experiment(
    django_db_setup: None,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Experiment]:
    folder = tmp_path_factory.mktemp("atomic-corpus")
    with django_db_blocker.unblock():
        made = prepared_experiment(
            folder, slug="atomic-build", settings=SETTINGS, n_tracks=12, seed=4
        )
        call_command("build_sessions", made.slug, "--digits-clips", "2", stdout=io.StringIO())
        yield made
        wipe(made)


def snapshot(experiment: Experiment) -> dict[str, Any]:
    """The experiment's design rows and every file under its media folders."""
    root = Path(settings.MEDIA_ROOT)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return {
        "design": list(Design.objects.filter(experiment=experiment).values_list("pk", flat=True)),
        "prompts": sorted(Prompt.objects.filter(experiment=experiment).values_list("key", "audio")),
        "traps": sorted(Trap.objects.filter(experiment=experiment).values_list("pk", flat=True)),
        "digits": sorted(
            DigitsClip.objects.filter(experiment=experiment).values_list("pk", flat=True)
        ),
        "files": [f for f in files if not f.startswith("model_runs")],
    }


def at_stage(stage: str, fault: str) -> Callable[..., Any]:
    """An execute_wrapper that, once the job reports `stage`, requests the job's
    cancellation, or fails the build's next read as a full disk would (a read, so the
    failure does not poison the test's own transaction)."""
    fired: list[int] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if fired and fault == "failure" and sql.startswith("SELECT"):
            fired.clear()
            raise OSError(28, "No space left on device")
        reports = sql.startswith('UPDATE "jobs_job"') and any(
            isinstance(p, str) and p.startswith(stage) for p in params or ()
        )
        result = execute(sql, params, many, context)
        if reports and not fired:
            fired.append(int(params[-1]))
            if fault == "cancel":
                execute(
                    'UPDATE "jobs_job" SET "cancel_requested" = %s WHERE "id" = %s',
                    (True, fired[0]),
                    False,
                    context,
                )
        return result

    return wrapper


def build(experiment: Experiment, wrapper: Callable[..., Any] | None = None) -> Job:
    job = job_create(kind="build_sessions", scope=experiment.job_scope)
    if wrapper is None:
        design_build(
            experiment_id=experiment.pk, job_id=job.pk, votes_per_stimulus=2, seed=5, digits_pool=2
        )
    else:
        with connection.execute_wrapper(wrapper):
            design_build(
                experiment_id=experiment.pk,
                job_id=job.pk,
                votes_per_stimulus=2,
                seed=5,
                digits_pool=2,
            )
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("fault", ["cancel", "failure"])
def test_a_build_stopped_at_any_stage_changes_nothing(
    experiment: Experiment, stage: str, fault: str
) -> None:
    prompt_reset(experiment=experiment, key="trap-3")  # so the build speaks one prompt
    before = snapshot(experiment)

    stopped = build(experiment, at_stage(stage, fault))

    expected = Job.Status.CANCELLED if fault == "cancel" else Job.Status.FAILED
    assert stopped.status == expected, (stopped.status, stopped.error)
    assert snapshot(experiment) == before
    if fault == "failure":
        assert "No space left on device" in stopped.error

    done = build(experiment)  # and the next build goes through
    assert done.status == Job.Status.SUCCEEDED, done.error
    after = snapshot(experiment)
    assert after["design"] != before["design"]
    assert ("trap-3" in dict(after["prompts"])) and "trap-3" not in dict(before["prompts"])
    stored = Path(settings.MEDIA_ROOT)
    for _, audio in after["prompts"]:
        assert (stored / audio).is_file()


def test_a_task_delivered_twice_builds_once(experiment: Experiment) -> None:
    job = job_create(kind="build_sessions", scope=experiment.job_scope)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)  # a delivery is at work
    before = snapshot(experiment)
    assert (
        design_build(
            experiment_id=experiment.pk, job_id=job.pk, votes_per_stimulus=2, seed=5, digits_pool=2
        )
        is None
    )
    assert snapshot(experiment) == before
    # A build whose worker died (no progress for longer than the stale time) is taken over.
    from datetime import timedelta

    from django.utils import timezone

    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert (
        design_build(
            experiment_id=experiment.pk, job_id=job.pk, votes_per_stimulus=2, seed=5, digits_pool=2
        )
        is not None
    )
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
