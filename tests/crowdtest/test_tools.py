"""A machine without ffmpeg or espeak-ng hears it at the first step, with the command that
installs them: `make run` stops (or installs them, when it may) before it builds anything,
`load_demo` refuses to start, `manage.py check` warns, and a delivery encode that could
not run fails as failed, so the build that follows names the real cause."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from crowdtest.corpus.services import experiment_create, stimuli_prepare, tracks_import
from crowdtest.jobs.models import Job
from modeling.synth import write_demo_corpus

ROOT = Path(settings.BASE_DIR)
INSTALL = "sudo apt-get install ffmpeg espeak-ng"


def bare_path(tmp_path: Path, *programs: str) -> str:
    """A PATH holding only `programs` (links to this machine's), so no ffmpeg, espeak-ng
    or apt-get is found."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for program in programs:
        found = shutil.which(program)
        assert found, program
        (folder / program).symlink_to(found)
    return str(folder)


def test_need_tools_stops_naming_what_is_missing_and_the_install_command(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "need-tools")],
        env={"PATH": bare_path(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "ffmpeg ffprobe espeak-ng" in done.stderr and INSTALL in done.stderr


@pytest.mark.skipif(
    any(shutil.which(p) is None for p in ("ffmpeg", "ffprobe", "espeak-ng")),
    reason="ffmpeg or espeak-ng is not installed here",
)
def test_need_tools_passes_when_everything_is_there() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "need-tools")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""


def test_make_run_stops_at_its_first_step_without_building_a_virtualenv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "run", f"VENV={venv}"],
        env={"PATH": bare_path(tmp_path, "make", "sh", "bash", "sha256sum", "cut")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert INSTALL in done.stderr
    assert not venv.exists()


def test_load_demo_refuses_to_start_without_the_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", bare_path(tmp_path))
    with pytest.raises(CommandError, match="Not installed: ffmpeg") as refused:
        call_command("load_demo", stdout=io.StringIO())
    assert INSTALL in str(refused.value)


def test_the_system_check_warns_of_missing_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", bare_path(tmp_path))
    warned = [m for m in run_checks() if m.id == "crowdtest.W001"]
    assert len(warned) == 1 and "espeak-ng" in warned[0].msg and INSTALL in warned[0].msg


@pytest.mark.skipif(
    any(shutil.which(p) is None for p in ("ffmpeg", "ffprobe", "espeak-ng")),
    reason="ffmpeg or espeak-ng is not installed here",
)
def test_the_system_check_is_quiet_when_the_tools_are_there() -> None:
    assert not [m for m in run_checks() if m.id == "crowdtest.W001"]


@pytest.mark.django_db(transaction=True)  # tasks run as their commits happen, as in a worker
def test_an_encode_without_ffmpeg_fails_and_the_build_names_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_demo_corpus(tmp_path / "corpus", n_tracks=8, seconds=2.5, sample_rate=16000, seed=2)
    experiment = experiment_create(
        slug="no-ffmpeg",
        name="No ffmpeg",
        settings={"excerpt_seconds": 2.0, "n_clusters": 2, "stimuli_per_cluster": 2},
    )
    tracks_import(experiment=experiment, source=str(tmp_path / "corpus" / "manifest.csv"))
    stimuli_prepare(experiment=experiment)
    monkeypatch.setenv("PATH", bare_path(tmp_path, "cat"))  # ffmpeg gone before the encode

    with pytest.raises(CommandError, match=r"Job \d+ failed: ffmpeg is not installed"):
        call_command("cluster_stimuli", experiment.slug, stdout=io.StringIO())
    job = Job.objects.get(kind="encode_deliveries", scope=experiment.job_scope)
    assert job.status == Job.Status.FAILED and job.done == 0
    assert "ffmpeg is not installed" in job.error

    with pytest.raises(CommandError, match="could not be encoded for delivery") as refused:
        call_command("build_sessions", experiment.slug, stdout=io.StringIO())
    assert "wait for the encode job" not in str(refused.value)
