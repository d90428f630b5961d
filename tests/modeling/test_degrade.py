"""The degradation classifier's synthetic set: six versions of every excerpt, seeded,
level-matched, each degradation doing what it says, resumable and refused when mixed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from modeling import degrade
from modeling.degrade import CLASSES, DegradeError, DegradeSettings
from modeling.synth import synth_track

SR = 16000
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.fixture
def music() -> np.ndarray:
    return synth_track(seconds=2.0, sample_rate=SR, channels=1, seed=3)[:, 0].astype(np.float64)


def _sources(folder: Path, n: int, seconds: float = 1.5) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"s{i}.wav"
        sf.write(path, synth_track(seconds=seconds, sample_rate=SR, channels=1, seed=i), SR)
        paths.append(path)
    return paths


def test_clip_cuts_the_drawn_share_of_samples(music: np.ndarray) -> None:
    out, params = degrade.clip(music, np.random.default_rng(0))
    level = np.max(np.abs(out))
    at_level = np.mean(np.isclose(np.abs(out), level))
    assert 0.01 <= params["clipped_share"] <= 0.20
    assert at_level == pytest.approx(params["clipped_share"], abs=0.01)


def test_noise_is_added_at_the_drawn_snr(music: np.ndarray) -> None:
    out, params = degrade.noise(music, np.random.default_rng(1))
    added = out - music
    snr = 20 * np.log10(np.sqrt(np.mean(music**2)) / np.sqrt(np.mean(added**2)))
    assert snr == pytest.approx(params["snr_db"], abs=0.01)
    assert params["colour"] in ("white", "pink", "brown")


def test_echo_repeats_the_signal_after_the_delay() -> None:
    impulse = np.zeros(SR)
    impulse[0] = 1.0
    out, params = degrade.echo(impulse, np.random.default_rng(2), SR)
    delay = round(params["delay_s"] * SR)
    for r in range(1, params["repeats"] + 1):
        assert out[r * delay] == pytest.approx(params["decay"] ** r)
    assert np.count_nonzero(out) == 1 + params["repeats"]


def test_reverb_leaves_a_decaying_tail() -> None:
    burst = np.zeros(2 * SR)
    burst[:100] = 1.0
    out, params = degrade.reverb(burst, np.random.default_rng(4), SR)
    tail = out[200 : 200 + int(0.1 * SR)]
    assert np.sqrt(np.mean(tail**2)) > 0 and 0.3 <= params["rt60_s"] <= 2.0


@needs_ffmpeg
def test_codec_round_trip_keeps_length_and_changes_the_signal(music: np.ndarray) -> None:
    out, params = degrade.codec(music, np.random.default_rng(5), SR)
    assert out.shape == music.shape
    assert params["encoder"] in {c[0] for c in degrade.CODECS}
    assert not np.allclose(out, music, atol=1e-3)
    assert np.corrcoef(out, music)[0, 1] > 0.5  # still the same music


@pytest.mark.parametrize("label", CLASSES)
def test_every_class_keeps_the_level_and_range(music: np.ndarray, label: str) -> None:
    if label == "codec" and shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    out, _ = degrade.degrade(music, label, np.random.default_rng(6), SR)
    assert np.max(np.abs(out)) <= 1.0
    rms = np.sqrt(np.mean(out**2))
    assert rms == pytest.approx(np.sqrt(np.mean(music**2)), rel=0.02) or np.max(np.abs(out)) > 0.99


def test_unknown_degradation_is_refused(music: np.ndarray) -> None:
    with pytest.raises(DegradeError, match="unknown degradation 'wow'"):
        degrade.degrade(music, "wow", np.random.default_rng(0), SR)


@needs_ffmpeg
def test_set_is_seeded_resumable_and_versioned(tmp_path: Path) -> None:
    sources = [*_sources(tmp_path / "music", 2), tmp_path / "music" / "missing.wav"]
    settings = DegradeSettings(seconds=1.0, sample_rate=SR, min_seconds=0.5, seed=7)
    made = degrade.make_degraded_set(sources, tmp_path / "a", settings)
    assert [f.label for f in made.files] == list(CLASSES) * 2
    assert made.skipped and made.skipped[0][0].endswith("missing.wav")
    again = degrade.make_degraded_set(sources, tmp_path / "b", settings)
    for first, second in zip(made.files, again.files):
        assert first.params == second.params
        assert np.array_equal(sf.read(first.path)[0], sf.read(second.path)[0])
    listed = degrade.read_degraded_set(tmp_path / "a")
    assert [(f.path.name, f.label) for f in listed] == [(f.path.name, f.label) for f in made.files]
    assert sf.info(listed[0].path).samplerate == SR and sf.info(listed[0].path).frames == SR

    # A stopped generation resumes: missing files are made again, the same.
    removed = made.files[8].path
    original = sf.read(removed)[0]
    removed.unlink()
    degrade.make_degraded_set(sources, tmp_path / "a", settings)
    assert np.array_equal(sf.read(removed)[0], original)

    with pytest.raises(DegradeError, match="holds another degraded set"):
        degrade.make_degraded_set(sources, tmp_path / "a", DegradeSettings(seconds=1.0, seed=8))


def test_no_usable_source_is_refused(tmp_path: Path) -> None:
    sources = _sources(tmp_path, 1, seconds=0.2)
    with pytest.raises(DegradeError, match="no source gave an excerpt"):
        degrade.make_degraded_set(sources, tmp_path / "out", DegradeSettings(sample_rate=SR))
