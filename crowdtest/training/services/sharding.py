"""Archive scoring spread over every gpu worker.

Three task kinds, all on the `gpu` queue (any worker that consumes it takes a share, a
CPU machine as well as a GPU one):

1. the plan (`score_archive`): the source is listed as it is found (a manifest row by
   row, a folder one directory at a time) and cut into shards of `shard_size` files,
   each written as a `ScoringShard` row holding its file list; the shards are then sent
   as one Celery group. The planner holds one shard's files at a time.
2. a shard (`score_shard`): scores its files and stores each result as a `ScoredFile`
   row, every `STORE_SECONDS` of scoring. One row per input position (a unique constraint), so a
   shard delivered again, or two deliveries at once, skip what is stored and nothing is
   scored into the CSV twice. Progress is the sum of the shards' counts on the scoring's
   job. A shard whose worker was killed is delivered again (acks late, requeued on a
   lost worker process) and goes on from its stored files; one that has killed its
   worker `MAX_RESTARTS` times gives its remaining files an error row instead of
   killing more.
3. the assembly (`assemble_scoring`): once every shard has finished, the CSV is written
   in input order, shard by shard, and the per-file rows are dropped.

A group, not a chord: a chord's body fires on a count of results kept by the result
backend, which a shard delivered twice counts twice (the body would run early) and a
shard that fails after its retries breaks for good. Here the last shard to finish,
seen under the scoring's row lock, queues the assembly, which checks again.

Without a broker (`make run`, tests) the group's tasks run one after another in this
process, then the assembly."""

from __future__ import annotations

import csv
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.files import File
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from crowdtest.jobs.dispatch import enqueue, enqueue_group
from crowdtest.jobs.services import (
    job_advance,
    job_fail,
    job_mark_cancelled,
    job_report,
    job_set_counts,
    job_start,
)
from modeling.provenance import code_version
from modeling.w2vmos.errors import W2VMOSError

from ..errors import TrainingError
from ..models import ScoredFile, ScoringRun, ScoringShard
from .control import StopControl, task_deadline
from .scorer import FileScore, RunScorer, run_scorer
from .scoring import (
    CSV_COLUMNS,
    ScoreSource,
    csv_row,
    iter_archive_sources,
    scoring_fold_index,
    sources_score,
)

logger = logging.getLogger(__name__)

Status = ScoringRun.Status
FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
#: Files fetched and scored together (S3 copies are removed after each chunk); a stop
#: is checked between chunks.
CHUNK_FILES = 16
#: Seconds of scoring between two writes of results: what a killed worker can lose, and
#: what keeps a fast worker from spending its time on commits.
STORE_SECONDS = 2.0
#: Deliveries of one shard that found it already running (its worker died) before its
#: remaining files are given up as errors.
MAX_RESTARTS = 3
#: Shard rows written per INSERT while planning.
PLAN_BATCH = 10


# --- 1. The plan ------------------------------------------------------------------------


def scoring_plan(*, scoring_id: int) -> str:
    """The plan task's work: list the files into shards and send them. A plan delivered
    again after its shards were written sends the unfinished ones again (a shard that
    is already scoring or done skips what is stored)."""
    from ..tasks import score_shard_task

    with transaction.atomic():
        scoring = (
            ScoringRun.objects.select_for_update(of=("self",))
            .select_related("run__experiment")
            .filter(pk=scoring_id)
            .first()
        )
        if scoring is None:
            return "scoring deleted"
        if scoring.status in FINISHED:
            return f"scoring {scoring.status}"
        if scoring.status == Status.RUNNING and scoring.n_shards:
            unfinished = scoring.shards.exclude(status__in=FINISHED).values_list("index", flat=True)
            enqueue_group(score_shard_task, [_shard_call(scoring_id, i) for i in unfinished])
            return "shards sent again"
        try:
            n_files, n_shards = _write_shards(scoring)
        except (TrainingError, OSError) as exc:
            _fail(scoring.pk, str(exc))
            return "failed"
        scoring.status, scoring.n_files, scoring.n_shards = Status.RUNNING, n_files, n_shards
        scoring.model_fold = _fold_index(scoring)
        scoring.save(update_fields=["status", "n_files", "n_shards", "model_fold"])
        if scoring.job_id:
            job_set_counts(job_id=scoring.job_id)
            job_start(
                job_id=scoring.job_id,
                total=n_files + 1,
                message=f"{n_files} files in {n_shards} shards",
            )
        if n_shards:
            calls = [_shard_call(scoring_id, i) for i in range(n_shards)]
            enqueue_group(score_shard_task, calls)
        else:
            enqueue(_assemble_task(), scoring_id=scoring_id)
    return f"{n_files} files in {n_shards} shards"


def _shard_call(scoring_id: int, index: int) -> dict[str, int]:
    return {"scoring_id": scoring_id, "index": index}


def _fold_index(scoring: ScoringRun) -> int | None:
    try:
        return scoring_fold_index(scoring.run)
    except TrainingError:
        return None  # the shards say why when they load the model


def _write_shards(scoring: ScoringRun) -> tuple[int, int]:
    """Shard rows from the source as it is listed, `PLAN_BATCH` rows per INSERT."""
    size = scoring.shard_size or 1
    sources = iter_archive_sources(source=scoring.source, experiment=scoring.run.experiment)
    n_files = n_shards = 0
    pending: list[ScoringShard] = []
    for files in _batches(sources, size):
        pending.append(
            ScoringShard(
                scoring=scoring,
                index=n_shards,
                start=n_files,
                files=[[s.name, s.kind, s.source, s.track_id, s.error] for s in files],
            )
        )
        n_files += len(files)
        n_shards += 1
        if len(pending) == PLAN_BATCH:
            ScoringShard.objects.bulk_create(pending)
            pending = []
    if pending:
        ScoringShard.objects.bulk_create(pending)
    return n_files, n_shards


def _batches(items: Iterator[ScoreSource], size: int) -> Iterator[list[ScoreSource]]:
    while batch := list(islice(items, size)):
        yield batch


# --- 2. A shard -------------------------------------------------------------------------

# The model loaded by this worker process, kept for the next shard of the same scoring
# settings: loading it (and choosing a CPU engine) is most of a shard's overhead.
_loaded: tuple[tuple[object, ...], RunScorer] | None = None


def _scorer(scoring: ScoringRun) -> RunScorer:
    global _loaded
    run = scoring.run
    key = (run.pk, scoring.device, scoring.engine)
    if _loaded is None or _loaded[0] != key:
        _loaded = None
        _loaded = (key, run_scorer(run=run, device=scoring.device, engine=scoring.engine))
    return _loaded[1]


def shard_score(*, scoring_id: int, index: int) -> str:
    """A shard task's work: score the shard's files not yet stored, a few at a time,
    then finish it and, when it is the last, queue the assembly."""
    with transaction.atomic():
        scoring = ScoringRun.objects.select_related("run").filter(pk=scoring_id).first()
        shard = (
            ScoringShard.objects.select_for_update()
            .filter(scoring_id=scoring_id, index=index)
            .first()
        )
        if scoring is None or shard is None:
            return "scoring deleted"
        if scoring.status != Status.RUNNING:
            return f"scoring {scoring.status}"
        if shard.status in FINISHED:
            return "shard already scored"
        restarted = shard.status == Status.RUNNING  # its last worker died on it
        shard.restarts += int(restarted)
        shard.status, shard.worker = Status.RUNNING, f"{socket.gethostname()} pid {os.getpid()}"
        shard.save(update_fields=["status", "restarts", "worker", "updated_at"])
    try:
        return _score_shard(scoring, shard)
    except OperationalError:
        raise
    except SoftTimeLimitExceeded:  # a chunk outlasted the hand-over margin
        from ..tasks import score_shard_task

        ScoringShard.objects.filter(pk=shard.pk).update(status=Status.QUEUED)
        enqueue(score_shard_task, **_shard_call(scoring_id, index))
        return "continues in a new task"
    except (TrainingError, W2VMOSError, OSError) as exc:
        _fail(scoring_id, str(exc))
        return "failed"
    except Exception as exc:  # a bug: the scoring must not wait forever
        logger.exception("shard %s of scoring %s failed", index, scoring_id)
        _fail(scoring_id, f"internal error: {exc.__class__.__name__}: {exc}")
        return "failed"


def _score_shard(scoring: ScoringRun, shard: ScoringShard) -> str:
    stored = set(
        ScoredFile.objects.filter(
            scoring_id=scoring.pk, position__gte=shard.start, position__lt=shard.start + shard.count
        ).values_list("position", flat=True)
    )
    todo = [
        (shard.start + i, ScoreSource(*(str(f[0]), str(f[1]), str(f[2]), f[3], str(f[4]))))
        for i, f in enumerate(shard.files)
        if shard.start + i not in stored
    ]
    results: list[tuple[int, FileScore]] = []
    if todo and shard.restarts >= MAX_RESTARTS:
        error = f"not scored: the worker scoring its shard died {shard.restarts} times"
        results, todo = [(p, FileScore(None, error)) for p, _ in todo], []
    control = StopControl(job_id=scoring.job_id, deadline=task_deadline())
    stored_at = time.monotonic()
    for start in range(0, len(todo), CHUNK_FILES):
        if control():
            return _flush(scoring, shard, results) or _stopped(scoring, shard, control)
        chunk = todo[start : start + CHUNK_FILES]
        scores = sources_score(_scorer(scoring), [s for _, s in chunk])
        results += zip((p for p, _ in chunk), scores)
        if time.monotonic() - stored_at >= STORE_SECONDS:
            if ended := _flush(scoring, shard, results):
                return ended
            results, stored_at = [], time.monotonic()
    return _flush(scoring, shard, results, last=True) or "shard scored"


def _flush(
    scoring: ScoringRun,
    shard: ScoringShard,
    results: Sequence[tuple[int, FileScore]],
    *,
    last: bool = False,
) -> str | None:
    """In one transaction: the files' rows (unless another delivery stored them first),
    the shard's counts from its rows, the job's as their sum over shards (set outright,
    so a shard delivered again never counts a file twice) and, for the `last` write, the
    shard finished and, when it is the last shard, the assembly queued. None while the
    scoring goes on, else why this shard stops."""
    rows = [
        ScoredFile(
            scoring_id=scoring.pk,
            position=position,
            mos=score.mos,
            error=score.error if score.mos is None else "",
            engine=score.engine,
        )
        for position, score in results
    ]
    try:
        with transaction.atomic():
            locked = ScoringRun.objects.select_for_update().filter(pk=scoring.pk).first()
            if locked is None:
                return "scoring deleted"
            if locked.status != Status.RUNNING:
                return f"stopped: the scoring is {locked.status}"
            ScoredFile.objects.bulk_create(rows, ignore_conflicts=True)
            _count(scoring, shard)
            if last:
                ScoringShard.objects.filter(pk=shard.pk).update(status=Status.SUCCEEDED)
                if not locked.shards.exclude(status=Status.SUCCEEDED).exists():
                    enqueue(_assemble_task(), scoring_id=scoring.pk)
    except IntegrityError:  # its scoring was deleted while this was written
        if not ScoringRun.objects.filter(pk=scoring.pk).exists():
            return "scoring deleted"
        raise
    return None


def _count(scoring: ScoringRun, shard: ScoringShard) -> None:
    counts = ScoredFile.objects.filter(
        scoring_id=scoring.pk, position__gte=shard.start, position__lt=shard.start + shard.count
    ).aggregate(scored=Count("pk", filter=Q(mos__isnull=False)), failed=Count("pk"))
    scored, failed = counts["scored"], counts["failed"] - counts["scored"]
    ScoringShard.objects.filter(pk=shard.pk).update(
        n_scored=scored, n_failed=failed, updated_at=timezone.now()
    )
    if scoring.job_id:
        sums = ScoringShard.objects.filter(scoring_id=scoring.pk).aggregate(
            scored=Sum("n_scored"), failed=Sum("n_failed")
        )
        done, bad = sums["scored"] or 0, sums["failed"] or 0
        job_set_counts(job_id=scoring.job_id, done=done, failed=bad)
        job_report(job_id=scoring.job_id, message=f"{done + bad}/{scoring.n_files} files")


def _stopped(scoring: ScoringRun, shard: ScoringShard, control: StopControl) -> str:
    if control.cancelled:
        _cancel(scoring.pk)
        return "cancelled"
    if control.out_of_time:
        from ..tasks import score_shard_task

        # Queued again, not running: the continuation is no restart after a death.
        ScoringShard.objects.filter(pk=shard.pk).update(status=Status.QUEUED)
        enqueue(score_shard_task, **_shard_call(scoring.pk, shard.index))
        return "continues in a new task"
    return "stopped: the scoring is no longer running"


def _assemble_task() -> Any:
    from ..tasks import assemble_scoring_task

    return assemble_scoring_task


# --- 3. The assembly --------------------------------------------------------------------


def scoring_assemble(*, scoring_id: int) -> str:
    """The assembly task's work: the CSV in input order from every shard's stored rows,
    once all shards have finished; the per-file rows are dropped once it is saved."""
    with transaction.atomic():
        scoring = (
            ScoringRun.objects.select_for_update(of=("self",))
            .select_related("run")
            .filter(pk=scoring_id)
            .first()
        )
        if scoring is None:
            return "scoring deleted"
        if scoring.status != Status.RUNNING:
            return f"scoring {scoring.status}"
        if scoring.shards.exclude(status=Status.SUCCEEDED).exists():
            return "waiting for shards"
        with tempfile.TemporaryFile("w+", newline="") as out:
            scored, failed = _write_csv(scoring, out)
            out.seek(0)
            name = f"run-{scoring.run_id}-scoring-{scoring.pk}.csv"
            scoring.output.save(name, File(out), save=False)
        scoring.status, scoring.finished_at = Status.SUCCEEDED, timezone.now()
        scoring.n_scored, scoring.n_failed = scored, failed
        scoring.save(update_fields=["output", "status", "finished_at", "n_scored", "n_failed"])
        ScoredFile.objects.filter(scoring_id=scoring_id).delete()
        if scoring.job_id:
            job_set_counts(job_id=scoring.job_id, done=scored, failed=failed)
            job_advance(
                job_id=scoring.job_id,
                done=1,
                message=f"{scored} files scored, {failed} with errors",
            )
    return "assembled"


def _write_csv(scoring: ScoringRun, out: Any) -> tuple[int, int]:
    """Rows shard by shard: one shard's files and results in memory at a time."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    version = scoring.code_version or code_version()
    scored = failed = 0
    shards = scoring.shards.order_by("index").only("start", "files")
    for shard in shards.iterator(chunk_size=20):
        results = {
            position: FileScore(mos, error, engine)
            for position, mos, error, engine in ScoredFile.objects.filter(
                scoring_id=scoring.pk,
                position__gte=shard.start,
                position__lt=shard.start + len(shard.files),
            ).values_list("position", "mos", "error", "engine")
        }
        for i, f in enumerate(shard.files):
            item = ScoreSource(str(f[0]), str(f[1]), str(f[2]), f[3], str(f[4]))
            score = results.get(shard.start + i, FileScore(None, "not scored"))
            writer.writerow(csv_row(item, score, run_id=scoring.run_id, version=version))
            scored += score.mos is not None
            failed += score.mos is None
    return scored, failed


# --- Ending early -----------------------------------------------------------------------


def _fail(scoring_id: int, error: str) -> None:
    _end(scoring_id, Status.FAILED, error)


def _cancel(scoring_id: int) -> None:
    _end(scoring_id, Status.CANCELLED, "")


def _end(scoring_id: int, status: str, error: str) -> None:
    """The scoring (if still there and unfinished) and its job end."""
    with transaction.atomic():
        scoring = ScoringRun.objects.select_for_update().filter(pk=scoring_id).first()
        if scoring is None or scoring.status in FINISHED:
            return
        scoring.status, scoring.error, scoring.finished_at = status, error, timezone.now()
        scoring.save(update_fields=["status", "error", "finished_at"])
        ScoringShard.objects.filter(scoring=scoring).exclude(status__in=FINISHED).update(
            status=status
        )
        if scoring.job_id and status == Status.CANCELLED:
            job_mark_cancelled(job_id=scoring.job_id)
        elif scoring.job_id:
            job_fail(job_id=scoring.job_id, error=error)
