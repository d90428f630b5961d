"""Manifest, label checks, 16 kHz mono decoding and the padding collate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modeling.w2vmos.data import (
    Clip,
    ClipDataset,
    ManifestItem,
    collate_clips,
    load_audio_16k_mono,
    read_manifest,
    validate_labels,
)
from modeling.w2vmos.errors import AudioReadError, W2VMOSError

from .conftest import ClipFactory


def test_audio_is_decoded_to_16k_mono_and_cut_to_its_middle(make_clip: ClipFactory) -> None:
    stereo = make_clip("stereo.wav", seconds=2.0, sr=44100, channels=2)
    samples = load_audio_16k_mono(stereo)
    assert samples.dtype == np.float32 and samples.shape == (32000,)
    middle = load_audio_16k_mono(stereo, max_seconds=1.0)
    assert middle.shape == (16000,)
    # the middle second of the whole file: 0.5 s .. 1.5 s (resampling edges aside)
    np.testing.assert_allclose(middle[2000:14000], samples[10000:22000], atol=2e-3)
    window = load_audio_16k_mono(stereo, start_seconds=1.5, max_seconds=1.0)
    assert window.shape == (8000,)  # only 0.5 s left after 1.5 s


def test_unreadable_empty_or_too_short_audio_is_an_audio_error(
    tmp_path: Path, make_clip: ClipFactory
) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF....WAVEfmt nonsense")
    with pytest.raises(AudioReadError, match=r"garbage\.wav: unreadable audio"):
        load_audio_16k_mono(garbage)
    with pytest.raises(AudioReadError, match="no such file"):
        load_audio_16k_mono(tmp_path / "missing.wav")
    short = make_clip("short.wav", seconds=0.001)
    with pytest.raises(AudioReadError, match=r"shorter than the model's 25\.0 ms"):
        load_audio_16k_mono(short, min_samples=400)


def test_manifest_paths_are_relative_to_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,mos,ci,class\na.wav,3.5,0.4,Q1\n/abs/b.wav,,,\n")
    items = read_manifest(manifest)
    assert items == [
        ManifestItem(tmp_path / "a.wav", 3.5, 0.4, "Q1"),
        ManifestItem(Path("/abs/b.wav"), None, None, None),
    ]
    manifest.write_text("path,mos\na.wav,three\n")
    with pytest.raises(W2VMOSError, match="line 2: mos 'three' is not a number"):
        read_manifest(manifest)
    manifest.write_bytes("path\ncaf\u00e9.wav\n".encode("latin-1"))
    with pytest.raises(W2VMOSError, match="is not a UTF-8 CSV manifest"):
        read_manifest(manifest)


def _items(n: int, classes: int = 3) -> list[ManifestItem]:
    return [ManifestItem(Path(f"{i}.wav"), 3.0, 0.3, f"Q{i % classes + 1}") for i in range(n)]


def test_labels_are_checked_before_any_work() -> None:
    validate_labels(_items(9), k=3)
    with pytest.raises(W2VMOSError, match="no labelled items"):
        validate_labels([])
    bad = _items(9)
    bad[4] = ManifestItem(Path("4.wav"), float("nan"), 0.3, "Q2")
    with pytest.raises(W2VMOSError, match="missing or NaN MOS in items 4"):
        validate_labels(bad)
    bad[4] = ManifestItem(Path("4.wav"), 5.5, 0.3, "Q2")
    with pytest.raises(W2VMOSError, match=r"MOS outside 1\.\.5 in items 4"):
        validate_labels(bad)
    bad[4] = ManifestItem(Path("4.wav"), 3.0, None, "Q2")
    validate_labels(bad)  # CIs are only needed for cross-validation
    with pytest.raises(W2VMOSError, match="missing, NaN or negative CI in items 4"):
        validate_labels(bad, k=3)
    with pytest.raises(W2VMOSError, match="fewer than k=3 members"):
        validate_labels(_items(6, classes=3), k=3)
    with pytest.raises(W2VMOSError, match="at least 6 items"):
        validate_labels(_items(5, classes=1), k=3)


def test_collate_pads_to_the_longest_clip_with_a_mask() -> None:
    clips = [
        Clip(0, np.ones(3, dtype=np.float32), 4.0),
        Clip(1, None, 2.0, "broken"),
        Clip(2, np.full(5, 2.0, dtype=np.float32), 3.0),
    ]
    batch = collate_clips(clips)
    assert batch.indices == [0, 2] and batch.failed == [(1, "broken")]
    assert batch.input_values.tolist() == [[1, 1, 1, 0, 0], [2, 2, 2, 2, 2]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch.labels is not None and batch.labels.tolist() == [4.0, 3.0]


def test_dataset_keeps_errors_per_clip_when_asked(tmp_path: Path, make_clip: ClipFactory) -> None:
    good = make_clip("good.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"\x00" * 10)
    dataset = ClipDataset([good, bad], max_seconds=10.0, errors="keep")
    assert dataset[0].samples is not None and dataset[1].error is not None
    with pytest.raises(AudioReadError):
        ClipDataset([good, bad], preload=True)
