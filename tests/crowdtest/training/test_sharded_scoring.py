"""Archive scoring in shards, in this process: the plan, shards delivered again after a
worker died, files that vanish, a model run deleted while scoring, cancelling. A "kill"
is an exception no handler catches, raised right after a shard stored its first files,
which leaves the rows as a dead worker would."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_request_cancel
from crowdtest.training.models import ModelRun, ScoredFile, ScoringRun, ScoringShard
from crowdtest.training.services import (
    scoring_assemble,
    scoring_plan,
    scoring_start,
    shard_score,
    sharding,
)
from crowdtest.training.services.scoring import sources_score

from .conftest import final_run_with_model, write_manifest, write_wavs

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Like SIGKILL: no `except Exception` sees it."""


@pytest.fixture
def run(tiny_scoring_model: Path) -> ModelRun:
    return final_run_with_model(tiny_scoring_model)


@pytest.fixture
def archive(tmp_path: Path) -> list[Path]:
    """Seven short WAVs, a corrupt one among them and one that was never there."""
    files = write_wavs(tmp_path / "lp", 6, seconds=0.5)
    corrupt = tmp_path / "lp" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    return [*files[:3], corrupt, tmp_path / "lp" / "missing.wav", *files[3:]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Tasks the services queue, recorded instead of run: the test delivers them."""
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        sharding,
        "enqueue_group",
        lambda task, kwargs: calls.extend((task.name, dict(k)) for k in kwargs),
    )
    monkeypatch.setattr(
        sharding, "enqueue", lambda task, **kwargs: calls.append((task.name, kwargs))
    )
    return calls


def start(run: ModelRun, manifest: Path, capture: Any, **kwargs: Any) -> ScoringRun:
    with capture(execute=True):
        scoring = scoring_start(
            run=run, source=str(manifest), device="cpu", engine="torch-fp32", **kwargs
        )
    scoring.refresh_from_db()
    return scoring


def rows_of(scoring: ScoringRun) -> list[dict[str, str]]:
    scoring.refresh_from_db()
    with scoring.output.open("rb") as f:
        return list(csv.DictReader(io.StringIO(f.read().decode())))


def planned(run: ModelRun, manifest: Path, sent: list[Any], *, shard_size: int) -> ScoringRun:
    """A scoring planned with its shards' tasks recorded, not run."""
    scoring = ScoringRun.objects.create(
        run=run, source=str(manifest), device="cpu", engine="torch-fp32", shard_size=shard_size
    )
    scoring_plan(scoring_id=scoring.pk)
    scoring.refresh_from_db()
    return scoring


def deliver(sent: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Run every recorded task once, in order, including those they queue."""
    answers = []
    while sent:
        name, kwargs = sent.pop(0)
        if name.endswith("score_shard"):
            answers.append(shard_score(**kwargs))
        elif name.endswith("assemble_scoring"):
            answers.append(scoring_assemble(**kwargs))
    return answers


def test_shards_score_the_archive_into_one_csv_in_input_order(
    run: ModelRun,
    archive: list[Path],
    tmp_path: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    manifest = write_manifest(tmp_path / "manifest.csv", archive)
    scoring = start(run, manifest, django_capture_on_commit_callbacks, shard_size=3)
    assert (scoring.status, scoring.n_files, scoring.n_shards) == ("succeeded", 8, 3)
    assert (scoring.n_scored, scoring.n_failed) == (6, 2)
    rows = rows_of(scoring)
    assert [r["path"] for r in rows] == [str(p) for p in archive]
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["corrupt.wav"]["error"] and by_name["corrupt.wav"]["predicted_mos"] == ""
    assert by_name["missing.wav"]["error"] and by_name["missing.wav"]["predicted_mos"] == ""
    scored = [r for r in rows if r["predicted_mos"]]
    assert len(scored) == 6 and {r["engine"] for r in scored} == {"torch-fp32"}
    assert list(scoring.shards.values_list("status", flat=True)) == ["succeeded"] * 3
    assert not ScoredFile.objects.filter(scoring_id=scoring.pk).exists()  # the CSV holds them
    assert scoring.job_id is not None
    job = Job.objects.get(pk=scoring.job_id)
    assert (job.status, job.total, job.done + job.failed) == ("succeeded", 9, 9)


def test_an_archive_with_no_files_gives_an_empty_csv(
    run: ModelRun, tmp_path: Path, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    manifest = write_manifest(tmp_path / "empty.csv", [])
    scoring = start(run, manifest, django_capture_on_commit_callbacks)
    assert (scoring.status, scoring.n_files, scoring.n_shards) == ("succeeded", 0, 0)
    assert rows_of(scoring) == []


def test_a_shard_delivered_again_after_its_worker_died_scores_only_what_was_left(
    run: ModelRun,
    archive: list[Path],
    tmp_path: Path,
    sent: list[tuple[str, dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sharding, "CHUNK_FILES", 2)
    monkeypatch.setattr(sharding, "STORE_SECONDS", 0.0)  # stored after every chunk
    scoring = planned(run, write_manifest(tmp_path / "m.csv", archive), sent, shard_size=5)
    assert [kwargs["index"] for _, kwargs in sent] == [0, 1]
    scored: list[str] = []
    real_score = sources_score

    def counting(scorer: Any, chunk: Any, **kwargs: Any) -> Any:
        if kill_on_chunk and len(scored) == 2 * kill_on_chunk[0]:
            kill_on_chunk.clear()
            raise WorkerKilled  # after its first two files were stored
        scored.extend(s.name for s in chunk)
        return real_score(scorer, chunk, **kwargs)

    kill_on_chunk = [1]
    monkeypatch.setattr(sharding, "sources_score", counting)
    with pytest.raises(WorkerKilled):
        shard_score(**sent[0][1])
    shard = ScoringShard.objects.get(scoring=scoring, index=0)
    assert shard.status == "running" and ScoredFile.objects.filter(scoring=scoring).count() == 2
    assert deliver(sent) == ["shard scored", "shard scored", "assembled"]
    deliver([("score_shard", {"scoring_id": scoring.pk, "index": 0})])  # a late duplicate
    shard.refresh_from_db()
    assert shard.restarts == 1
    assert sorted(scored) == sorted(str(p) for p in archive)  # none scored twice
    rows = rows_of(scoring)
    assert [r["path"] for r in rows] == [str(p) for p in archive]
    assert sum(bool(r["predicted_mos"]) for r in rows) == 6


def test_a_shard_that_keeps_killing_its_worker_gives_up_its_files_with_an_error(
    run: ModelRun, archive: list[Path], tmp_path: Path, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    scoring = planned(run, write_manifest(tmp_path / "m.csv", archive), sent, shard_size=4)
    ScoringShard.objects.filter(scoring=scoring, index=1).update(
        status="running", restarts=sharding.MAX_RESTARTS - 1
    )
    assert deliver(sent)[-1] == "assembled"
    rows = rows_of(scoring)
    given_up = [r for r in rows[4:] if "died 3 times" in r["error"]]
    assert len(given_up) == 4 and all(r["predicted_mos"] == "" for r in given_up)
    assert sum(bool(r["predicted_mos"]) for r in rows[:4]) == 3


def test_a_file_that_disappears_before_its_shard_runs_gets_an_error_row(
    run: ModelRun, archive: list[Path], tmp_path: Path, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    scoring = planned(run, write_manifest(tmp_path / "m.csv", archive), sent, shard_size=4)
    archive[-1].unlink()  # listed in the plan, gone by the time it is scored
    deliver(sent)
    rows = rows_of(scoring)
    assert [r["path"] for r in rows] == [str(p) for p in archive]
    assert rows[-1]["predicted_mos"] == "" and rows[-1]["error"]
    assert scoring.status == "succeeded" and (scoring.n_scored, scoring.n_failed) == (5, 3)


def test_deleting_the_model_run_while_scoring_fails_its_job_and_ends_the_shards(
    run: ModelRun, archive: list[Path], tmp_path: Path, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    from crowdtest.jobs.services import job_create

    job = job_create(kind="score_archive")
    scoring = ScoringRun.objects.create(
        run=run,
        source=str(write_manifest(tmp_path / "m.csv", archive)),
        job=job,
        device="cpu",
        engine="torch-fp32",
        shard_size=3,
    )
    scoring_plan(scoring_id=scoring.pk)
    first = sent.pop(0)
    assert shard_score(**first[1]) == "shard scored"
    run.delete()
    assert not ScoringShard.objects.filter(scoring_id=scoring.pk).exists()
    assert deliver(sent) == ["scoring deleted", "scoring deleted"]
    assert deliver([("assemble_scoring", {"scoring_id": scoring.pk})]) == ["scoring deleted"]
    job.refresh_from_db()
    assert job.status == "failed" and "was deleted" in job.error


def test_a_shard_storing_after_its_scoring_was_deleted_stops_quietly(
    run: ModelRun,
    archive: list[Path],
    tmp_path: Path,
    sent: list[tuple[str, dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deleted between scoring files and storing them: the write finds no scoring."""
    scoring = planned(run, write_manifest(tmp_path / "m.csv", archive), sent, shard_size=8)
    real_score = sources_score

    def then_deleted(scorer: Any, chunk: Any, **kwargs: Any) -> Any:
        scores = real_score(scorer, chunk, **kwargs)
        ScoringRun.objects.filter(pk=scoring.pk).delete()
        return scores

    monkeypatch.setattr(sharding, "sources_score", then_deleted)
    assert deliver(sent) == ["scoring deleted"]


def test_cancelling_the_job_stops_every_shard(
    run: ModelRun, archive: list[Path], tmp_path: Path, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    from crowdtest.jobs.services import job_create

    job = job_create(kind="score_archive")
    scoring = ScoringRun.objects.create(
        run=run,
        source=str(write_manifest(tmp_path / "m.csv", archive)),
        job=job,
        device="cpu",
        engine="torch-fp32",
        shard_size=3,
    )
    scoring_plan(scoring_id=scoring.pk)
    job_request_cancel(job_id=job.pk)
    assert deliver(sent) == ["cancelled", "scoring cancelled", "scoring cancelled"]
    scoring.refresh_from_db()
    job.refresh_from_db()
    assert (scoring.status, job.status) == ("cancelled", "cancelled") and not scoring.output


def test_a_plan_delivered_again_sends_only_the_unfinished_shards(
    run: ModelRun, archive: list[Path], tmp_path: Path, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    scoring = planned(run, write_manifest(tmp_path / "m.csv", archive), sent, shard_size=3)
    assert shard_score(**sent[0][1]) == "shard scored"
    sent.clear()
    assert scoring_plan(scoring_id=scoring.pk) == "shards sent again"
    assert [kwargs["index"] for _, kwargs in sent] == [1, 2]
    assert ScoringShard.objects.filter(scoring=scoring).count() == 3


def test_a_shard_near_its_time_limit_hands_over_to_a_continuation(
    run: ModelRun,
    archive: list[Path],
    tmp_path: Path,
    sent: list[tuple[str, dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sharding, "CHUNK_FILES", 2)
    scoring = planned(run, write_manifest(tmp_path / "m.csv", archive), sent, shard_size=8)
    first = sent.pop(0)
    with monkeypatch.context() as m:
        m.setattr(sharding, "task_deadline", lambda: 0.0)  # the deadline has passed
        assert shard_score(**first[1]) == "continues in a new task"
    assert sent == [first]  # its continuation
    shard = ScoringShard.objects.get(scoring=scoring, index=0)
    assert shard.status == "queued"
    assert deliver(sent) == ["shard scored", "assembled"]
    shard.refresh_from_db()
    assert shard.restarts == 0  # a hand-over is no death
    assert [r["path"] for r in rows_of(scoring)] == [str(p) for p in archive]


def test_the_admin_shows_each_shard_with_its_worker(
    run: ModelRun,
    archive: list[Path],
    tmp_path: Path,
    admin_client: Client,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    from django.urls import reverse

    scoring = start(
        run, write_manifest(tmp_path / "m.csv", archive), django_capture_on_commit_callbacks,
        shard_size=4,
    )  # fmt: skip
    page = admin_client.get(reverse("admin:training_scoringrun_change", args=[scoring.pk]))
    assert page.status_code == 200
    assert page.text.count(" pid ") == 2  # the process that scored each of the 2 shards


def test_the_plan_writes_shards_as_the_source_is_listed(
    run: ModelRun, monkeypatch: pytest.MonkeyPatch, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    """The planner never holds the whole list: each INSERT of shard rows happens when
    only its own files have been read from the source."""
    from crowdtest.training.services.scoring import ScoreSource

    consumed = 0

    def listing(**kwargs: Any) -> Any:
        nonlocal consumed
        for i in range(47):
            consumed += 1
            yield ScoreSource(f"/lp/{i}.wav", "path", f"/lp/{i}.wav")

    seen: list[int] = []
    real_insert = ScoringShard.objects.bulk_create

    def insert(rows: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(consumed)
        return real_insert(rows, *args, **kwargs)

    monkeypatch.setattr(sharding, "iter_archive_sources", listing)
    monkeypatch.setattr(sharding, "PLAN_BATCH", 2)
    monkeypatch.setattr(ScoringShard.objects, "bulk_create", insert)
    scoring = ScoringRun.objects.create(run=run, source="/lp", shard_size=5)
    assert scoring_plan(scoring_id=scoring.pk) == "47 files in 10 shards"
    assert seen == [10, 20, 30, 40, 47]
    assert len(sent) == 10
