"""The excerpt: 10 s centred on the midpoint, read without decoding the whole track."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from modeling.audio import AudioError
from modeling.audio.excerpt import read_excerpt

MINUS_3_DB = 10 ** (-3 / 20)


def marked_track(frames: int, channels: int = 2) -> np.ndarray:
    """Quiet noise with a single full-scale click on the midpoint sample, frames // 2."""
    rng = np.random.default_rng(frames)
    audio = (0.01 * rng.standard_normal((frames, channels))).astype(np.float32)
    audio[frames // 2] = 0.9
    return audio


def encode(wav: Path, target: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-b:a", "192k", str(target)], check=True
    )
    return target


@pytest.mark.parametrize("suffix", ["wav", "flac"])
@pytest.mark.parametrize("frames", [8000 * 24, 8000 * 24 + 1])  # even and odd lengths
def test_excerpt_is_centred_sample_exactly(tmp_path: Path, suffix: str, frames: int) -> None:
    path = tmp_path / f"track.{suffix}"
    sf.write(path, marked_track(frames), 8000, subtype="PCM_24")
    excerpt = read_excerpt(path)
    assert excerpt.audio.shape == (80_000, 2)
    assert int(np.argmax(np.abs(excerpt.audio[:, 0]))) == 40_000
    assert excerpt.start_s == pytest.approx((frames - 80_000) // 2 / 8000)
    assert excerpt.end_s - excerpt.start_s == pytest.approx(10.0)
    assert excerpt.source_duration_s == pytest.approx(frames / 8000)
    assert not excerpt.downmixed


@pytest.mark.parametrize("suffix", ["mp3", "m4a"])
def test_ffmpeg_excerpt_is_centred_within_a_codec_frame(tmp_path: Path, suffix: str) -> None:
    rate = 16_000
    wav = tmp_path / "track.wav"
    sf.write(wav, marked_track(rate * 12), rate)
    excerpt = read_excerpt(encode(wav, tmp_path / f"track.{suffix}"))
    assert excerpt.audio.shape == (rate * 10, 2)
    assert excerpt.sample_rate == rate
    click = int(np.argmax(np.abs(excerpt.audio[:, 0])))
    assert abs(click - rate * 5) <= 1152  # one MP3 frame; AAC frames are 1024


def test_track_shorter_than_the_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, marked_track(int(7.2 * 8000)), 8000)
    with pytest.raises(AudioError, match=r"track is 7\.2 s long; the excerpt needs 10\.0 s"):
        read_excerpt(path)
    assert read_excerpt(path, excerpt_seconds=7.2).audio.shape == (57_600, 2)


def test_mono_comes_back_mono(tmp_path: Path) -> None:
    path = tmp_path / "mono.flac"
    sf.write(path, marked_track(8000 * 12, channels=1), 8000)
    excerpt = read_excerpt(path)
    assert excerpt.audio.shape == (80_000, 1)
    assert excerpt.mono_source
    assert excerpt.source_channels == 1


def test_six_channels_downmixed_with_bs775(tmp_path: Path) -> None:
    # L R C LFE Ls Rs as constants, so the matrix can be read off the result
    levels = np.array([0.1, 0.2, 0.3, 0.9, 0.05, 0.07], dtype=np.float32)
    path = tmp_path / "surround.wav"
    sf.write(path, np.tile(levels, (8000 * 11, 1)), 8000, subtype="FLOAT")
    excerpt = read_excerpt(path)
    assert excerpt.downmixed
    assert excerpt.source_channels == 6
    assert excerpt.audio.shape == (80_000, 2)
    left = 0.1 + MINUS_3_DB * 0.3 + MINUS_3_DB * 0.05
    right = 0.2 + MINUS_3_DB * 0.3 + MINUS_3_DB * 0.07
    np.testing.assert_allclose(excerpt.audio[100], [left, right], rtol=1e-5)
    assert any("BS.775" in note for note in excerpt.notes)


def test_high_sample_rate_is_kept_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "hires.flac"
    sf.write(path, marked_track(96_000 * 11), 96_000, subtype="PCM_24")
    excerpt = read_excerpt(path)
    assert excerpt.sample_rate == 96_000
    assert excerpt.audio.shape == (960_000, 2)
    assert any("96000 Hz" in note for note in excerpt.notes)
