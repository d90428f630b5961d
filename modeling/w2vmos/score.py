"""Scoring an archive with a trained model, w2vMOS or a baseline (mission step 11).

`score_files` is the production path: files are sorted by (header) length and batched so
that clips of similar length share a batch (little padding), DataLoader workers decode
audio in parallel with the forward passes, the model runs under `torch.inference_mode`
and, on a GPU, under bf16/fp16 autocast. Each file is cut to its middle `max_seconds`
(the stimulus rule the labels were collected with). A file that cannot be decoded yields
a per-file error and the rest of its batch is scored. Padding does not change a score
(see `model`), so batching is exact up to float rounding.

`score_files_cpu` is the CPU path: on a CPU one clip already fills the matrix products,
so it scores one unpadded clip per pass through an inference engine (`engines`: int8,
ONNX Runtime, ...), the next file decoding in a thread meanwhile; each result names the
engine that scored it.

`score_one_at_a_time` is the naive baseline of the benchmark: one file per forward pass,
fp32, decoding in the calling thread.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import DataLoader

from modeling.w2vmos.data import ClipDataset, audio_duration, collate_clips
from modeling.w2vmos.engines import Engine
from modeling.w2vmos.errors import AudioReadError
from modeling.w2vmos.quality_model import QualityModel
from modeling.w2vmos.runtime import autocast, loader_context, resolve_device, resolve_precision


@dataclass(frozen=True)
class ScoreResult:
    """The predicted MOS of one file, or why there is none. `index` is the file's
    position in the input, since `score_files` yields in processing order."""

    index: int
    path: Path
    mos: float | None
    error: str | None = None
    engine: str = ""


ScoreProgress = Callable[[int, int], None]  # (files done, files in all)


def length_buckets(lengths: Sequence[tuple[int, float]], batch_size: int) -> list[list[int]]:
    """Batches of item indices, longest first, so each batch holds similar lengths."""
    order = sorted(lengths, key=lambda item: (-item[1], item[0]))
    return [[i for i, _ in order[s : s + batch_size]] for s in range(0, len(order), batch_size)]


def score_files(
    model: QualityModel,
    paths: Sequence[Path | str],
    *,
    batch_size: int = 8,
    device: str = "auto",
    precision: str = "auto",
    max_seconds: float | None = 10.0,
    num_workers: int = 2,
    progress: ScoreProgress | None = None,
) -> Iterator[ScoreResult]:
    """Predicted MOS of every file, yielded as batches finish (in length order)."""
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    model.to(dev).eval()
    files = [Path(p) for p in paths]
    total, done = len(files), 0

    lengths: list[tuple[int, float]] = []
    for i, file in enumerate(files):
        try:
            seconds = audio_duration(file)
        except AudioReadError as exc:
            done += 1
            yield ScoreResult(i, file, None, str(exc))
            continue
        lengths.append((i, seconds if max_seconds is None else min(seconds, max_seconds)))
    if progress is not None and done:
        progress(done, total)
    if not lengths:
        return

    dataset = ClipDataset(
        files, max_seconds=max_seconds, front_end=model.front_end(), errors="keep"
    )
    loader: DataLoader[object] = DataLoader(
        dataset,
        batch_sampler=length_buckets(lengths, batch_size),
        collate_fn=collate_clips,
        num_workers=num_workers,
        multiprocessing_context=loader_context(num_workers),
        pin_memory=dev.type == "cuda",
    )
    with torch.inference_mode():
        for batch in loader:
            for index, error in batch.failed:
                yield ScoreResult(index, files[index], None, error)
            if batch.indices:
                values = batch.input_values.to(dev, non_blocking=True)
                mask = batch.attention_mask.to(dev, non_blocking=True)
                with autocast(dev, prec):
                    mos = model(values, mask).float().cpu().tolist()
                for index, value in zip(batch.indices, mos):
                    yield ScoreResult(index, files[index], float(value))
            done += len(batch.indices) + len(batch.failed)
            if progress is not None:
                progress(done, total)


def decode_clips(
    model: QualityModel, paths: Sequence[Path | str], *, max_seconds: float | None = 10.0
) -> Iterator[tuple[int, Path, NDArray[np.float32] | None, str | None]]:
    """(index, path, the model's input or None, error) per file, in input order, the next
    file decoding in a background thread while the caller computes."""
    front_end = model.front_end()

    def load(file: Path) -> tuple[NDArray[np.float32] | None, str | None]:
        try:
            return front_end(file, max_seconds=max_seconds), None
        except AudioReadError as exc:
            return None, str(exc)
        except OSError as exc:  # gone between listing and reading
            return None, f"cannot read {file}: {exc}"

    files = [Path(p) for p in paths]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending: Future[tuple[NDArray[np.float32] | None, str | None]] | None = None
        for i, file in enumerate(files):
            current = pending if pending is not None else pool.submit(load, file)
            pending = pool.submit(load, files[i + 1]) if i + 1 < len(files) else None
            values, error = current.result()
            yield i, file, values, error


def score_files_cpu(
    engine: Engine,
    model: QualityModel,
    paths: Sequence[Path | str],
    *,
    max_seconds: float | None = 10.0,
    progress: ScoreProgress | None = None,
) -> Iterator[ScoreResult]:
    """Predicted MOS of every file by `engine` (built from `model`), in input order."""
    total = len(paths)
    for i, file, values, error in decode_clips(model, paths, max_seconds=max_seconds):
        if values is None:
            yield ScoreResult(i, file, None, error)
        else:
            yield ScoreResult(i, file, engine.score(values), engine=engine.name)
        if progress is not None:
            progress(i + 1, total)


def score_one_at_a_time(
    model: QualityModel,
    paths: Sequence[Path | str],
    *,
    device: str = "cpu",
    max_seconds: float | None = 10.0,
) -> list[ScoreResult]:
    """The naive baseline: decode, then one fp32 forward pass per file."""
    dev = resolve_device(device)
    model.to(dev).eval()
    front_end = model.front_end()
    results = []
    for i, path in enumerate(paths):
        file = Path(path)
        try:
            samples = front_end(file, max_seconds=max_seconds)
        except AudioReadError as exc:
            results.append(ScoreResult(i, file, None, str(exc)))
            continue
        with torch.no_grad():
            values = torch.from_numpy(np.ascontiguousarray(samples))[None].to(dev)
            mask = torch.ones(values.shape[:2], dtype=torch.long, device=dev)
            mos = model(values, mask).item()
        results.append(ScoreResult(i, file, float(mos)))
    return results


def write_scores_csv(results: Iterable[ScoreResult], path: Path | str) -> Path:
    """Quality metadata CSV (`path, mos, error`), in input order."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(results, key=lambda r: r.index)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "mos", "error"])
        for r in rows:
            writer.writerow([str(r.path), "" if r.mos is None else f"{r.mos:.4f}", r.error or ""])
    return out
