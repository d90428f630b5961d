"""Archive scoring (mission step 11): the predicted MOS of every file of a folder, a
manifest CSV or the experiment's own tracks, with a run's model, in a quality-metadata
CSV that names the model run and the code version. A file that can't be read gets its
error in the CSV and the rest goes on (`modeling.w2vmos.score`).

From the web, a scoring is planned into shards that every gpu worker shares
(`sharding`); a command scores in its own process. Files are taken in chunks: each
chunk is fetched (S3 tracks are downloaded to temporary
files, removed after the chunk), scored (`scorer`: batched on a GPU, through the fastest
exact-enough engine on a CPU), and written; the CSV names the engine of every MOS."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.sources import SourceError, allowed_roots, is_within, local_copy
from crowdtest.exports import safe_cell
from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.services import job_create
from modeling.provenance import code_version
from modeling.w2vmos.errors import W2VMOSError

from ..errors import TrainingError
from ..models import ModelFold, ModelRun, ScoringRun
from .scorer import FileScore, RunScorer, run_scorer

JOB_KIND = "score_archive"
CHUNK = 256
CSV_COLUMNS = (
    "path",
    "track_id",
    "predicted_mos",
    "error",
    "engine",  # what computed the MOS: a CPU inference engine, or the batched GPU path
    "model_run",
    "code_version",
)
Status = ModelRun.Status


@dataclass(frozen=True)
class ScoreSource:
    """One file to score: what the CSV calls it, and where to read it."""

    name: str
    kind: str  # "path" | "s3" | "upload", as `corpus.sources.local_copy` takes
    source: str
    track_id: int | None = None
    error: str = ""


@dataclass
class ScoreCounts:
    files: int = 0
    scored: int = 0
    failed: int = 0
    cancelled: bool = False


def scoring_fold(run: ModelRun) -> ModelFold:
    """The fold whose model scores: a final model's only one, else the cross-validation
    fold with the lowest validation loss (chosen on validation, never on test data); an
    imported run's first (its folds score together, `scoring_folds`)."""
    if run.kind == ModelRun.Kind.PRETRAIN:
        raise TrainingError(f"Run {run.pk} is a pre-training: it has no MOS head to score with.")
    if run.kind == ModelRun.Kind.IMPORTED and not run.config.get("fine_tuned"):
        raise TrainingError(
            f"Run {run.pk} is an imported pre-trained wav2vec 2.0: it has no MOS head to score "
            f"with; fine-tune it with train_w2vmos SLUG --backbone {run.path}"
        )
    folds = [
        f for f in run.folds.all() if f.status == Status.SUCCEEDED and f.model_dir
    ]  # prefetched on pages
    if not folds:
        raise TrainingError(f"Run {run.pk} has no trained model yet ({run.status}).")
    return min(folds, key=lambda f: (f.best_val_loss is None, f.best_val_loss or 0.0, f.index))


def scoring_folds(run: ModelRun) -> list[ModelFold]:
    """The folds whose models score, their predictions averaged: every fold of an imported
    run (the paper's predict script scores with its fold models' mean), else one."""
    first = scoring_fold(run)
    if run.kind != ModelRun.Kind.IMPORTED:
        return [first]
    return sorted(
        (f for f in run.folds.all() if f.status == Status.SUCCEEDED and f.model_dir),
        key=lambda f: f.index,
    )


def scoring_fold_index(run: ModelRun) -> int | None:
    """What a scoring records as its model's fold: None for a mean over several."""
    folds = scoring_folds(run)
    return folds[0].index if len(folds) == 1 else None


def archive_sources(*, source: str, experiment: Experiment | None = None) -> list[ScoreSource]:
    """The files of a folder (recursively), of a manifest CSV (`path` column), or, with
    no source, every track of the experiment as it was imported."""
    return list(iter_archive_sources(source=source, experiment=experiment))


def iter_archive_sources(
    *, source: str, experiment: Experiment | None = None
) -> Iterator[ScoreSource]:
    """`archive_sources` one at a time, as the source yields them: a manifest row by
    row, a folder one directory at a time, tracks a page of rows at a time."""
    from modeling.w2vmos.listing import iter_manifest_paths, walk_audio_files

    if not source:
        if experiment is None:
            raise TrainingError("Give a folder or a manifest CSV to score.")
        tracks = experiment.tracks.order_by("pk").values_list(
            "pk", "source_kind", "source", "original_name", "error"
        )
        for pk, kind, src, name, error in tracks.iterator(chunk_size=2000):
            yield ScoreSource(str(src if kind != "upload" else name), kind, src, pk, error)
        return
    path = Path(source).expanduser()
    paths = iter_manifest_paths(path) if path.suffix.lower() == ".csv" else walk_audio_files(path)
    try:
        for file in paths:
            yield ScoreSource(file, "path", file)
    except W2VMOSError as exc:
        raise TrainingError(str(exc)) from exc


def _chunks(items: Sequence[ScoreSource], size: int) -> Iterator[Sequence[ScoreSource]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def archive_score(
    *,
    run: ModelRun,
    sources: Sequence[ScoreSource],
    out: IO[str],
    device: str = "auto",
    engine: str = "auto",
    batch_size: int = 8,
    num_workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScoreCounts:
    """Score `sources` with the run's model into the CSV stream `out`, in input order;
    `progress(files done, files in all)` after every batch."""
    scorer = run_scorer(
        run=run, device=device, engine=engine, batch_size=batch_size, num_workers=num_workers
    )
    version = code_version()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    counts = ScoreCounts(files=len(sources))
    finished = 0
    for chunk in _chunks(sources, CHUNK):
        if should_stop is not None and should_stop():
            counts.cancelled = True
            break

        def report(done: int, total: int, base: int = finished) -> None:
            if progress is not None:
                progress(base + done, len(sources))

        for item, score in zip(chunk, sources_score(scorer, chunk, progress=report)):
            writer.writerow(csv_row(item, score, run_id=run.pk, version=version))
            if score.mos is None:
                counts.failed += 1
            else:
                counts.scored += 1
        finished += len(chunk)
        if progress is not None:
            progress(finished, len(sources))
    return counts


def sources_score(
    scorer: RunScorer,
    chunk: Sequence[ScoreSource],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[FileScore]:
    """One result per source: fetched (S3 tracks to temporary files, removed after),
    then scored; a source that is gone or can't be read gets its error."""
    results: dict[int, FileScore] = {
        i: FileScore(None, s.error) for i, s in enumerate(chunk) if s.error
    }
    with ExitStack() as stack:
        paths: dict[int, Path] = {}
        for i, item in enumerate(chunk):
            if i in results:
                continue
            try:
                paths[i] = stack.enter_context(local_copy(item.kind, item.source))
            except (SourceError, OSError) as exc:
                results[i] = FileScore(None, str(exc))
        order = sorted(paths)
        base = len(results)

        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(base + done, len(chunk))

        for i, score in zip(order, scorer.score([paths[i] for i in order], progress=report)):
            results[i] = score
    return [results[i] for i in range(len(chunk))]


def csv_row(item: ScoreSource, score: FileScore, *, run_id: int, version: str) -> list[object]:
    return [
        safe_cell(item.name),  # a file name is the uploader's text
        "" if item.track_id is None else item.track_id,
        "" if score.mos is None else f"{score.mos:.4f}",
        safe_cell(score.error),
        score.engine,
        run_id,
        version,
    ]


# --- From a command: here, into a local CSV -------------------------------------------


def scoring_run_here(
    *,
    run: ModelRun,
    source: str,
    out_path: Path,
    device: str = "auto",
    engine: str = "auto",
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    created_by: Any = None,
) -> ScoringRun:
    """Score a folder or manifest in this process into `out_path`, recorded as a
    ScoringRun (`predict_quality`). The output and the source are checked first: an
    output that is a folder, or a source with no audio, is refused before any scoring."""
    if out_path.is_dir():
        raise TrainingError(
            f"{out_path} is a folder: give the CSV file to write, e.g. {out_path / 'scores.csv'}."
        )
    model_fold = scoring_fold_index(run)  # refuses a run with no model to score with
    sources = archive_sources(source=source)
    if not sources:
        raise TrainingError(f"{source} holds no audio files to score.")
    scoring = ScoringRun.objects.create(
        run=run,
        source=str(Path(source).expanduser().resolve()),
        status=Status.RUNNING,
        device=device,
        out_path=str(out_path.resolve()),
        n_files=len(sources),
        code_version=code_version(),
        created_by=created_by,
        model_fold=model_fold,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".part")
    try:
        with partial.open("w", newline="") as out:
            counts = archive_score(
                run=run,
                sources=sources,
                out=out,
                device=device,
                engine=engine,
                batch_size=batch_size,
                progress=progress,
            )
        partial.replace(out_path)
    except (TrainingError, W2VMOSError, OSError) as exc:
        partial.unlink(missing_ok=True)
        _record(scoring, status=Status.FAILED, error=str(exc))
        raise TrainingError(str(exc)) from exc
    _record(scoring, status=Status.SUCCEEDED, counts=counts)
    return scoring


def _record(
    scoring: ScoringRun, *, status: str, counts: ScoreCounts | None = None, error: str = ""
) -> None:
    scoring.status, scoring.error, scoring.finished_at = status, error, timezone.now()
    if counts is not None:
        scoring.n_scored, scoring.n_failed = counts.scored, counts.failed
    scoring.save(update_fields=["status", "error", "finished_at", "n_scored", "n_failed"])


# --- From the web: a gpu task, the CSV into storage -----------------------------------


def scoring_start(
    *,
    run: ModelRun,
    source: str = "",
    device: str = "auto",
    engine: str = "auto",
    shard_size: int | None = None,
    created_by: Any = None,
) -> ScoringRun:
    """Queue the scoring of the experiment's tracks (no source) or of a folder or
    manifest inside the import roots, with the run's model: its plan on the gpu queue,
    which sends the shards (`sharding`)."""
    from modeling.w2vmos.engines import ENGINES

    from ..tasks import score_archive_task

    scoring_fold(run)
    source = source.strip()
    if source and not is_within(Path(source).expanduser(), allowed_roots()):
        raise TrainingError(f"{source} is outside the folders the app may read (IMPORT_ROOTS).")
    if device not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"device must be auto, cpu or cuda, not {device!r}.")
    if engine not in ("auto", "batched", *ENGINES):
        raise TrainingError(f"engine must be auto, batched or one of {', '.join(ENGINES)}.")
    size = settings.SCORING_SHARD_FILES if shard_size is None else shard_size
    if size < 1:
        raise TrainingError(f"A shard needs at least one file, not {size}.")
    with transaction.atomic():
        scope = run.experiment.job_scope if run.experiment else ""
        job = job_create(kind=JOB_KIND, scope=scope, created_by=created_by)
        scoring = ScoringRun.objects.create(
            run=run,
            source=source,
            job=job,
            device=device,
            engine=engine,
            shard_size=size,
            code_version=code_version(),
            created_by=created_by,
        )
        enqueue(score_archive_task, scoring_id=scoring.pk)
    return scoring
