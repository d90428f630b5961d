"""Labelled clips for w2vMOS: the manifest, label checks, 16 kHz mono decoding, a torch
Dataset and the padding collate.

A manifest is a CSV with a `path` column (absolute, or relative to the manifest's folder)
and, for training, `mos` (1..5), `ci` (95% CI half-width) and `class` (the MOS class that
stratifies the folds, e.g. Vinylset's Q1..Q15).
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import torch
from numpy.typing import NDArray

from modeling.folds import stratified_folds
from modeling.w2vmos.errors import AudioReadError, W2VMOSError
from modeling.w2vmos.quality_model import FrontEnd

SAMPLE_RATE = 16000
MOS_RANGE = (1.0, 5.0)


@dataclass(frozen=True)
class ManifestItem:
    path: Path
    mos: float | None = None
    ci: float | None = None
    mos_class: str | None = None


def _optional_float(text: str | None, column: str, line: int, source: Path) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise W2VMOSError(f"{source}, line {line}: {column} {text!r} is not a number") from None


def read_manifest(path: Path | str) -> list[ManifestItem]:
    """Items of a manifest CSV (`path`, optional `mos`, `ci`, `class`)."""
    source = Path(path)
    try:
        with source.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "path" not in reader.fieldnames:
                raise W2VMOSError(f"{source}: a manifest needs a 'path' column")
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise W2VMOSError(f"{source} is not a UTF-8 CSV manifest: {exc}") from exc
    except OSError as exc:
        raise W2VMOSError(f"cannot read manifest {source}: {exc}") from exc
    items = []
    for line, row in enumerate(rows, start=2):
        raw = (row.get("path") or "").strip()
        if not raw:
            raise W2VMOSError(f"{source}, line {line}: empty path")
        file = Path(raw)
        items.append(
            ManifestItem(
                path=file if file.is_absolute() else source.parent / file,
                mos=_optional_float(row.get("mos"), "mos", line, source),
                ci=_optional_float(row.get("ci"), "ci", line, source),
                mos_class=(row.get("class") or "").strip() or None,
            )
        )
    return items


def _first(rows: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def validate_labels(items: Sequence[ManifestItem], *, k: int | None = None) -> None:
    """Refuse labels that training or cross-validation cannot use, before any work: no
    items, missing or non-finite MOS, MOS outside 1..5, and — for cross-validation
    (`k` given) — missing or negative CIs (τ needs them), missing classes, and classes
    or item counts too small for k stratified folds. Rows are numbered from 0."""
    if not items:
        raise W2VMOSError("no labelled items")
    missing = [i for i, it in enumerate(items) if it.mos is None or not math.isfinite(it.mos)]
    if missing:
        raise W2VMOSError(f"missing or NaN MOS in items {_first(missing)}")
    low, high = MOS_RANGE
    outside = [i for i, it in enumerate(items) if not low <= float(it.mos or 0.0) <= high]
    if outside:
        raise W2VMOSError(f"MOS outside {low:g}..{high:g} in items {_first(outside)}")
    if k is None:
        return
    bad_ci = [
        i for i, it in enumerate(items) if it.ci is None or not math.isfinite(it.ci) or it.ci < 0
    ]
    if bad_ci:
        raise W2VMOSError(f"missing, NaN or negative CI in items {_first(bad_ci)}")
    no_class = [i for i, it in enumerate(items) if not it.mos_class]
    if no_class:
        raise W2VMOSError(f"missing MOS class in items {_first(no_class)}")
    try:
        stratified_folds([it.mos_class for it in items], k=k)
    except ValueError as exc:
        raise W2VMOSError(str(exc)) from exc


# ---------------------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------------------


def audio_duration(path: Path | str) -> float:
    """Length in seconds from the file header (soundfile), else by decoding (librosa)."""
    try:
        info = sf.info(str(path))
        if info.frames > 0 and info.samplerate > 0:
            return float(info.frames) / float(info.samplerate)
        sf_error = "no frames in header"
    except Exception as exc:  # fall through to the slower decoder
        sf_error = str(exc) or type(exc).__name__
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "PySoundFile failed", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            return float(librosa.get_duration(path=str(path)))
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise AudioReadError(f"{path}: unreadable audio ({sf_error}; {detail})") from exc


def _decode(
    path: Path, max_seconds: float | None, start_seconds: float | None
) -> tuple[NDArray[np.float32], int]:
    """Mono samples at the file's own rate: `max_seconds` from `start_seconds`, or from
    the middle of the file when `start_seconds` is None."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate, frames = f.samplerate, f.frames
            keep = frames if max_seconds is None else min(frames, round(max_seconds * rate))
            start = (frames - keep) // 2 if start_seconds is None else round(start_seconds * rate)
            start = min(max(start, 0), frames)
            f.seek(start)
            data = f.read(min(keep, frames - start), dtype="float32", always_2d=True)
        return data.mean(axis=1), rate
    except Exception as sf_error:
        # Formats libsndfile cannot read (AAC/M4A, some MP3s) go through librosa, whose
        # audioread path warns that it is deprecated; that is expected here.
        try:
            import librosa

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "PySoundFile failed", UserWarning)
                warnings.simplefilter("ignore", FutureWarning)
                offset = start_seconds or 0.0
                if start_seconds is None and max_seconds is not None:
                    total = librosa.get_duration(path=str(path))
                    offset = max(0.0, (total - max_seconds) / 2)
                y, rate = librosa.load(
                    str(path), sr=None, mono=True, offset=offset, duration=max_seconds
                )
            return np.asarray(y, dtype=np.float32), int(rate)
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise AudioReadError(f"{path}: unreadable audio ({sf_error}; {detail})") from exc


def load_audio_mono(
    path: Path | str,
    *,
    sample_rate: int,
    max_seconds: float | None = None,
    start_seconds: float | None = None,
    min_samples: int = 1,
) -> NDArray[np.float32]:
    """Decode a file to mono float32 at `sample_rate` (channels averaged, soxr resampling).

    With `max_seconds`, only `max_seconds` are kept: from `start_seconds` when given
    (pre-training windows), else the middle of the file (the stimulus rule: 5 s each
    side of the midpoint for 10 s). Raises AudioReadError for unreadable, empty,
    non-finite or too-short audio (`min_samples` at `sample_rate`)."""
    file = Path(path)
    if not file.is_file():
        raise AudioReadError(f"{file}: no such file")
    mono, rate = _decode(file, max_seconds, start_seconds)
    if rate != sample_rate and mono.size:
        import librosa

        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if mono.size == 0:
        raise AudioReadError(f"{file}: no audio samples")
    if not np.all(np.isfinite(mono)):
        raise AudioReadError(f"{file}: audio contains NaN or infinite samples")
    if mono.size < min_samples:
        raise AudioReadError(
            f"{file}: {mono.size / sample_rate * 1000:.1f} ms of audio is shorter than the "
            f"model's {min_samples / sample_rate * 1000:.1f} ms receptive field"
        )
    return mono


def load_audio_16k_mono(
    path: Path | str,
    *,
    max_seconds: float | None = None,
    start_seconds: float | None = None,
    min_samples: int = 1,
) -> NDArray[np.float32]:
    """`load_audio_mono` at wav2vec 2.0's 16 kHz."""
    return load_audio_mono(
        path,
        sample_rate=SAMPLE_RATE,
        max_seconds=max_seconds,
        start_seconds=start_seconds,
        min_samples=min_samples,
    )


@dataclass(frozen=True)
class WaveformFrontEnd:
    """w2vMOS's input: 16 kHz mono samples, at least `min_samples` of them."""

    min_samples: int = 1

    def __call__(
        self, path: Path, *, max_seconds: float | None, start_seconds: float | None = None
    ) -> NDArray[np.float32]:
        return load_audio_16k_mono(
            path,
            max_seconds=max_seconds,
            start_seconds=start_seconds,
            min_samples=self.min_samples,
        )


# ---------------------------------------------------------------------------------------
# Dataset and collate
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One dataset item: the samples, or the error that prevented decoding them."""

    index: int
    samples: NDArray[np.float32] | None
    label: float | None
    error: str | None = None


@dataclass
class Batch:
    indices: list[int]
    input_values: torch.Tensor  # (B, T, ...) float32, zero-padded on the right
    attention_mask: torch.Tensor  # (B, T) int64, 1 on real samples (or segments)
    labels: torch.Tensor | None  # (B,) float32
    failed: list[tuple[int, str]]  # (index, error) of items that could not be decoded

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True), so host-to-GPU copies can overlap."""
        return Batch(
            self.indices,
            self.input_values.pin_memory(),
            self.attention_mask.pin_memory(),
            None if self.labels is None else self.labels.pin_memory(),
            self.failed,
        )


class ClipDataset(torch.utils.data.Dataset[Clip]):
    """Audio files (and labels) as Clips, each cut to `max_seconds` from its middle or
    from its `start_seconds` and turned into the model's input by `front_end` (default:
    16 kHz samples, at least `min_samples`). `preload` decodes everything once up front
    (training: a few hundred 10 s clips fit in memory, and epochs stop paying for
    decoding); `errors="keep"` returns a failed Clip instead of raising (scoring)."""

    def __init__(
        self,
        paths: Sequence[Path | str],
        labels: Sequence[float] | None = None,
        *,
        max_seconds: float | None = 10.0,
        min_samples: int = 1,
        start_seconds: Sequence[float] | None = None,
        preload: bool = False,
        errors: Literal["raise", "keep"] = "raise",
        front_end: FrontEnd | None = None,
    ) -> None:
        if labels is not None and len(labels) != len(paths):
            raise W2VMOSError(f"{len(paths)} paths but {len(labels)} labels")
        if start_seconds is not None and len(start_seconds) != len(paths):
            raise W2VMOSError(f"{len(paths)} paths but {len(start_seconds)} start times")
        self.paths = [Path(p) for p in paths]
        self.start_seconds = None if start_seconds is None else list(start_seconds)
        self.labels = None if labels is None else [float(v) for v in labels]
        self.max_seconds = max_seconds
        self.min_samples = min_samples
        self.errors = errors
        self.front_end = front_end or WaveformFrontEnd(min_samples)
        self._cache: list[NDArray[np.float32]] | None = None
        if preload:
            self._cache = [self._load(i) for i in range(len(self.paths))]

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, index: int) -> NDArray[np.float32]:
        return self.front_end(
            self.paths[index],
            max_seconds=self.max_seconds,
            start_seconds=None if self.start_seconds is None else self.start_seconds[index],
        )

    def __getitem__(self, index: int) -> Clip:
        label = None if self.labels is None else self.labels[index]
        if self._cache is not None:
            return Clip(index, self._cache[index], label)
        try:
            return Clip(index, self._load(index), label)
        except AudioReadError as exc:
            if self.errors == "raise":
                raise
            return Clip(index, None, label, str(exc))


def collate_clips(clips: Sequence[Clip]) -> Batch:
    """Zero-pad the first axis (samples, or mel segments) to the longest clip of the
    batch; the attention mask marks the real steps."""
    ok = [c for c in clips if c.samples is not None]
    shapes = [c.samples.shape for c in ok if c.samples is not None]
    length = max((shape[0] for shape in shapes), default=0)
    trailing = shapes[0][1:] if shapes else ()
    values = torch.zeros(len(ok), length, *trailing, dtype=torch.float32)
    mask = torch.zeros(len(ok), length, dtype=torch.long)
    for row, clip in enumerate(ok):
        assert clip.samples is not None
        steps = clip.samples.shape[0]
        values[row, :steps] = torch.from_numpy(np.ascontiguousarray(clip.samples))
        mask[row, :steps] = 1
    has_labels = bool(ok) and all(c.label is not None for c in ok)
    labels = torch.tensor([float(c.label or 0.0) for c in ok]) if has_labels else None
    return Batch(
        indices=[c.index for c in ok],
        input_values=values,
        attention_mask=mask,
        labels=labels,
        failed=[(c.index, c.error or "unreadable audio") for c in clips if c.samples is None],
    )
