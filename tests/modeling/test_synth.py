"""Synthetic vinyl: deterministic, bounded, and each fault does what its name says."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from modeling.synth import FAULTS, SEVERITY_LEVELS, _wow, synth_track, write_demo_corpus

RATE = 16_000


def track(**faults: float) -> np.ndarray:
    return synth_track(seconds=4, sample_rate=RATE, seed=7, faults=faults)


def high_band_energy(audio: np.ndarray, above_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    frequencies = np.fft.rfftfreq(len(audio), 1 / RATE)
    return float(spectrum[frequencies > above_hz].sum() / spectrum.sum())


def test_track_shape_range_and_determinism() -> None:
    audio = track(hiss=0.5, crackle=0.5)
    assert audio.shape == (4 * RATE, 2)
    assert audio.dtype == np.float32
    assert np.max(np.abs(audio)) <= 1.0
    assert np.array_equal(audio, track(hiss=0.5, crackle=0.5))
    other_seed = synth_track(seconds=4, sample_rate=RATE, seed=8, faults={"hiss": 0.5})
    assert not np.allclose(audio, other_seed)
    assert not np.allclose(audio[:, 0], audio[:, 1]), "the two channels should differ a little"


@pytest.mark.parametrize("channels", [1, 6])
def test_channel_counts(channels: int) -> None:
    audio = synth_track(seconds=1, sample_rate=8000, channels=channels, seed=1)
    assert audio.shape == (8000, channels)
    assert np.all(np.std(audio, axis=0) > 0)


def test_hiss_raises_the_noise_with_strength() -> None:
    clean = track()
    residual = [np.std(track(hiss=strength) - clean) for strength in (0.25, 0.75)]
    assert 0 < residual[0] < residual[1] / 10  # 46 dB over the range: 23 dB apart here


def test_crackle_is_sparse_clicks() -> None:
    residual = np.abs(track(crackle=1.0) - track()).max(axis=1)
    touched = np.mean(residual > 1e-4)
    assert 0 < touched < 0.05
    assert residual.max() > 0.05


def test_clipping_flattens_the_peaks() -> None:
    clean, clipped = track(), track(clipping=1.0)
    assert np.max(np.abs(clipped)) < np.max(np.abs(clean)) / 5
    at_threshold = np.isclose(np.abs(clipped), np.max(np.abs(clipped)))
    assert np.mean(at_threshold) > 0.05


def test_bandlimit_removes_the_top_of_the_spectrum() -> None:
    clean = high_band_energy(track(), 3000)
    assert high_band_energy(track(bandlimit=1.0), 3000) < clean / 100
    assert high_band_energy(track(bandlimit=0.3), 3000) > high_band_energy(
        track(bandlimit=1.0), 3000
    )


def test_wow_swings_the_pitch_slowly() -> None:
    rate, seconds = 8000, 4
    tone = np.sin(2 * np.pi * 1000 * np.arange(seconds * rate) / rate)[:, None].astype(np.float32)
    wobbled = _wow(tone, rate, strength=1.0)[:, 0]
    # count zero crossings in 100 ms windows: the frequency follows 1000 Hz x (1 ± 2 %)
    windows = wobbled[: len(wobbled) // 800 * 800].reshape(-1, 800)
    crossings = np.sum(np.diff(np.signbit(windows), axis=1), axis=1) / 2 / 0.1
    assert crossings.max() > 1012
    assert crossings.min() < 988


@pytest.mark.parametrize(
    ("faults", "message"),
    [({"scratch": 0.5}, "unknown faults"), ({"hiss": 1.5}, r"\[0, 1\]")],
)
def test_bad_fault_settings_are_refused(faults: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synth_track(seconds=1, sample_rate=8000, seed=0, faults=faults)


def test_demo_corpus_files_manifest_and_spread(tmp_path: Path) -> None:
    tracks = write_demo_corpus(tmp_path, n_tracks=10, seconds=1.0, sample_rate=8000, seed=3)
    assert len(tracks) == 10
    assert {track.path.suffix for track in tracks} == {".wav", ".flac"}
    assert {track.severity for track in tracks} == set(SEVERITY_LEVELS)
    dominant = {max(track.faults, key=lambda name: track.faults[name]) for track in tracks[1:]}
    assert len(dominant) >= 3
    assert all(set(track.faults) <= set(FAULTS) for track in tracks)
    for demo in tracks:
        info = sf.info(demo.path)
        assert (info.samplerate, info.channels, info.frames) == (8000, 2, 8000)
    with (tmp_path / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "path",
        "title",
        "artist",
        "year",
        "label",
        "carrier",
        "severity",
        "faults",
    ]
    assert [row["path"] for row in rows] == [track.path.name for track in tracks]
    assert [float(row["severity"]) for row in rows] == [track.severity for track in tracks]
    again = write_demo_corpus(
        tmp_path / "again", n_tracks=10, seconds=1.0, sample_rate=8000, seed=3
    )
    assert [t.faults for t in again] == [t.faults for t in tracks]
    assert [t.title for t in again] == [t.title for t in tracks]
