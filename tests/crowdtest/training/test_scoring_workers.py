"""One archive scored by two real Celery worker processes on Redis: the shards of one
scoring spread over both, one CSV with every file exactly once, in input order; and a
pool process killed while it scores a shard, whose shard is delivered again."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from crowdtest.celery import app
from crowdtest.training.models import ScoringRun, ScoringShard
from crowdtest.training.services import scoring_start

from .conftest import final_run_with_model, write_manifest, write_wavs

pytestmark = [pytest.mark.worker, pytest.mark.slow]
PLAN = "crowdtest.training.tasks.score_archive"


def send_scoring(
    client: Celery, archive: list[Path], tmp_path: Path, model: Path, **kwargs: Any
) -> ScoringRun:
    """A scoring started as the page starts it, its plan sent to the workers."""
    manifest = write_manifest(tmp_path / "manifest.csv", archive)
    sent: list[dict[str, Any]] = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(
            "crowdtest.training.services.scoring.enqueue",
            lambda task, **kw: sent.append(kw),
        )
        scoring = scoring_start(
            run=final_run_with_model(model),
            source=str(manifest),
            device="cpu",
            engine="torch-fp32",
            **kwargs,
        )
    assert sent == [{"scoring_id": scoring.pk}]
    assert app.amqp.router.route({}, PLAN)["queue"].name == "gpu"
    client.send_task(PLAN, kwargs=sent[0], queue="gpu")
    return scoring


def wait_finished(scoring: ScoringRun, timeout: float = 180) -> ScoringRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scoring.refresh_from_db()
        if scoring.status in ("succeeded", "failed", "cancelled"):
            return scoring
        time.sleep(0.2)
    raise AssertionError(f"scoring still {scoring.status} after {timeout} s")


def csv_rows(scoring: ScoringRun) -> list[dict[str, str]]:
    with scoring.output.open("rb") as f:
        return list(csv.DictReader(io.StringIO(f.read().decode())))


def pid_of(shard: ScoringShard) -> int:
    found = re.search(r"pid (\d+)", shard.worker)
    assert found, shard.worker
    return int(found.group(1))


def test_two_workers_share_one_archive_into_one_csv(
    celery_worker_pair: tuple[Celery, list[subprocess.Popen[bytes]]],
    tiny_scoring_model: Path,
    tmp_path: Path,
) -> None:
    client, _ = celery_worker_pair
    archive = write_wavs(tmp_path / "lp", 12, seconds=0.5)
    corrupt = tmp_path / "lp" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    archive.insert(5, corrupt)
    scoring = send_scoring(client, archive, tmp_path, tiny_scoring_model, shard_size=2)
    scoring = wait_finished(scoring)
    assert scoring.status == "succeeded", scoring.error
    assert (scoring.n_files, scoring.n_shards, scoring.n_scored, scoring.n_failed) == (13, 7, 12, 1)
    rows = csv_rows(scoring)
    assert [r["path"] for r in rows] == [str(p) for p in archive]  # each once, in order
    assert rows[5]["error"] and rows[5]["predicted_mos"] == ""
    shards = list(ScoringShard.objects.filter(scoring=scoring))
    assert all(s.status == "succeeded" for s in shards)
    assert len({s.worker for s in shards}) == 2  # both workers' processes took shards
    job = scoring.job
    assert job is not None
    job.refresh_from_db()
    assert (job.status, job.done + job.failed, job.total) == ("succeeded", 14, 14)


def test_a_shard_whose_worker_process_is_killed_is_scored_again_elsewhere(
    celery_worker_pair: tuple[Celery, list[subprocess.Popen[bytes]]],
    tiny_scoring_model: Path,
    tmp_path: Path,
) -> None:
    """The pool process is killed while it loads the model for its first shard (a worker
    process's first shard takes a second or two): the shard goes back to the queue."""
    client, _ = celery_worker_pair
    archive = write_wavs(tmp_path / "lp", 8, seconds=1.0)
    scoring = send_scoring(client, archive, tmp_path, tiny_scoring_model, shard_size=2)
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        victim = ScoringShard.objects.filter(scoring=scoring, status="running").first()
        time.sleep(0.005)
    assert victim is not None, "no shard started"
    os.kill(pid_of(victim), signal.SIGKILL)
    scoring = wait_finished(scoring)
    assert scoring.status == "succeeded", scoring.error
    victim.refresh_from_db()
    assert victim.status == "succeeded" and victim.restarts == 1
    assert pid_of(victim) != 0
    rows = csv_rows(scoring)
    assert [r["path"] for r in rows] == [str(p) for p in archive]
    assert all(r["predicted_mos"] for r in rows)
