"""Stimulus preparation through the real service and task, on synthesised audio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from pytest_django import DjangoCaptureOnCommitCallbacks

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.corpus.services import deliveries_encode, stimuli_prepare, tracks_import
from crowdtest.jobs.models import Job
from modeling.features import FEATURE_VERSION

from .conftest import WriteTrack

pytestmark = pytest.mark.django_db


def import_folder(experiment: Experiment, folder: Path) -> None:
    report = tracks_import(experiment=experiment, source=str(folder))
    assert report.created


@pytest.fixture
def prepare(
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> Callable[..., Job | None]:
    """`stimuli_prepare`, with the tasks it sends on commit run when it returns (a test's
    transaction never commits)."""

    def run(experiment: Experiment, **kwargs: Any) -> Job | None:
        with django_capture_on_commit_callbacks(execute=True):
            job = stimuli_prepare(experiment=experiment, **kwargs)
        if job is not None:
            job.refresh_from_db()
        return job

    return run


def test_stimuli_are_cut_from_the_middle_normalised_and_encoded(
    experiment: Experiment,
    write_track: WriteTrack,
    tmp_path: Path,
    prepare: Callable[..., Job | None],
) -> None:
    write_track("loud.wav", seconds=5, seed=1)
    write_track("mono.wav", seconds=4, channels=1, seed=2)
    import_folder(experiment, tmp_path / "archive")

    job = prepare(experiment)

    assert job is not None
    assert (job.status, job.done, job.failed, job.total) == (Job.Status.SUCCEEDED, 2, 0, 2)
    loud = Stimulus.objects.get(track__original_name="loud.wav")
    assert loud.status == Stimulus.Status.READY
    assert loud.start_s == pytest.approx(1.5)  # 5 s track, 2 s excerpt: 1.5 .. 3.5
    assert loud.duration_s == pytest.approx(2.0)
    assert loud.lufs_after == pytest.approx(-23.0, abs=0.5)
    assert loud.true_peak_db is not None and loud.true_peak_db <= -1.0 + 1e-6
    assert not loud.delivery and loud.codec == ""  # encoded once clustering selects it
    assert loud.features_version == FEATURE_VERSION
    assert loud.features is not None
    assert len(loud.features) == 253 and np.isfinite(loud.features).all()
    with loud.master.open("rb") as handle:
        audio, rate = sf.read(handle)
    assert rate == 16000 and audio.shape == (32000, 2)
    assert loud.master.name is not None
    assert loud.media_key in loud.master.name and "loud" not in loud.master.name
    mono = Stimulus.objects.get(track__original_name="mono.wav")
    assert mono.mono_source and mono.channels == 2


def test_a_rerun_does_only_what_is_missing(
    experiment: Experiment,
    write_track: WriteTrack,
    tmp_path: Path,
    prepare: Callable[..., Job | None],
) -> None:
    write_track("a.wav")
    import_folder(experiment, tmp_path / "archive")
    prepare(experiment)
    prepared_at = Stimulus.objects.get().prepared_at

    assert prepare(experiment) is None

    write_track("b.wav", seed=4)
    import_folder(experiment, tmp_path / "archive")
    job = prepare(experiment)
    assert job is not None and job.total == 1
    assert Stimulus.objects.get(track__original_name="a.wav").prepared_at == prepared_at


def test_a_silent_track_fails_with_its_reason_and_the_others_go_on(
    experiment: Experiment,
    write_track: WriteTrack,
    tmp_path: Path,
    prepare: Callable[..., Job | None],
) -> None:
    write_track("music.wav")
    sf.write(tmp_path / "archive" / "silence.wav", np.zeros((16000 * 4, 2)), 16000)
    import_folder(experiment, tmp_path / "archive")

    job = prepare(experiment)

    assert job is not None
    assert (job.status, job.done, job.failed) == (Job.Status.SUCCEEDED, 1, 1)
    silent = Stimulus.objects.get(track__original_name="silence.wav")
    assert silent.status == Stimulus.Status.FAILED
    assert "silent" in silent.error

    job = prepare(experiment, retry_failed=True)
    assert job is not None and job.total == 1
    silent.refresh_from_db()
    assert silent.status == Stimulus.Status.FAILED


def test_a_delivered_twice_task_does_the_work_once(
    experiment: Experiment,
    write_track: WriteTrack,
    tmp_path: Path,
    prepare: Callable[..., Job | None],
) -> None:
    from crowdtest.corpus.tasks import prepare_stimulus_task

    write_track("a.wav")
    import_folder(experiment, tmp_path / "archive")
    job = prepare(experiment)
    assert job is not None
    stimulus = Stimulus.objects.get()
    master = stimulus.master.name

    assert (
        prepare_stimulus_task.apply(kwargs={"stimulus_id": stimulus.pk, "job_id": job.pk}).get()
        == "ready"
    )

    stimulus.refresh_from_db()
    job.refresh_from_db()
    assert stimulus.master.name == master
    assert job.done == 1


def test_rated_stimuli_are_encoded_for_delivery(
    experiment: Experiment,
    write_track: WriteTrack,
    tmp_path: Path,
    prepare: Callable[..., Job | None],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    write_track("a.wav")
    write_track("b.wav", seed=5)
    import_folder(experiment, tmp_path / "archive")
    prepare(experiment)
    Stimulus.objects.filter(track__original_name="a.wav").update(role=Stimulus.Role.RATED)

    with django_capture_on_commit_callbacks(execute=True):
        job = deliveries_encode(experiment=experiment)

    assert job is not None and job.total == 1
    job.refresh_from_db()
    assert (job.status, job.done) == (Job.Status.SUCCEEDED, 1)
    a = Stimulus.objects.get(track__original_name="a.wav")
    assert a.codec.startswith(("AAC-LC", "HE-AAC")) and a.bitrate_kbps == 320
    assert a.delivery.name is not None
    assert a.delivery.name.endswith(f"{a.media_key}.m4a")
    assert not Stimulus.objects.get(track__original_name="b.wav").delivery
    assert deliveries_encode(experiment=experiment) is None


def test_deliver_all_encodes_while_preparing(
    experiment: Experiment,
    write_track: WriteTrack,
    tmp_path: Path,
    prepare: Callable[..., Job | None],
) -> None:
    write_track("a.wav")
    import_folder(experiment, tmp_path / "archive")
    prepare(experiment, deliver_all=True)
    delivery = Stimulus.objects.get().delivery.name
    assert delivery is not None and delivery.endswith(".m4a")
