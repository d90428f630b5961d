"""BS.1770-4 loudness and true peak against hand-computed values, and the normaliser."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.audio import AudioError
from modeling.audio.loudness import integrated_loudness, normalise, true_peak_db

RATE = 48_000


def sine(
    frequency: float, amplitude: float, seconds: float = 5.0, phase: float = 0.0
) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t + phase)).astype(np.float32)


def test_loudness_of_a_reference_sine() -> None:
    # BS.1770-4 §2.1: a 0 dBFS 1 kHz sine in one front channel reads -3.01 LKFS;
    # at -20 dBFS that is -23.01, and the same sine in both channels adds 3.01 dB
    mono = sine(997, 0.1)
    assert integrated_loudness(mono, RATE) == pytest.approx(-23.01, abs=0.05)
    stereo = np.column_stack([mono, mono])
    assert integrated_loudness(stereo, RATE) == pytest.approx(-20.0, abs=0.05)


def test_true_peak_sees_between_the_samples() -> None:
    # a quarter-rate sine sampled 45 degrees off its crest: every sample is at 0.707 of
    # the amplitude, a sample-peak meter reads -3 dB, the true peak is the amplitude
    audio = sine(RATE / 4, 0.5, seconds=1.0, phase=np.pi / 4)
    fade = np.linspace(0.0, 1.0, 480, dtype=np.float32)  # no onset transient to ring
    audio[:480] *= fade
    audio[-480:] *= fade[::-1]
    assert 20 * np.log10(np.max(np.abs(audio))) == pytest.approx(-9.03, abs=0.01)
    assert true_peak_db(audio, RATE) == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert true_peak_db(np.zeros(RATE, np.float32), RATE) == float("-inf")


@pytest.mark.parametrize("level", [0.003, 0.05, 0.3])  # quiet, typical and hot excerpts
def test_normalise_reaches_the_target(level: float) -> None:
    rng = np.random.default_rng(0)
    music = np.column_stack([sine(440, level), sine(660, level)])
    music += (level / 10 * rng.standard_normal(music.shape)).astype(np.float32)
    result = normalise(music, RATE, target_lufs=-23.0)
    assert result.lufs_after == pytest.approx(-23.0, abs=0.5)
    assert integrated_loudness(result.audio, RATE) == pytest.approx(-23.0, abs=0.5)
    assert result.gain_db == pytest.approx(-23.0 - result.lufs_before, abs=1e-6)
    assert not result.gain_limited
    assert result.audio.dtype == np.float32


def test_gain_is_limited_by_the_true_peak_ceiling() -> None:
    # quiet noise with a few loud clicks: reaching -23 LUFS would push the clicks to clipping
    rng = np.random.default_rng(1)
    audio = (0.001 * rng.standard_normal((5 * RATE, 2))).astype(np.float32)
    audio[RATE::RATE] = 0.05
    assert true_peak_db(audio, RATE) + (-23.0 - integrated_loudness(audio, RATE)) > 0
    result = normalise(audio, RATE, target_lufs=-23.0, max_true_peak_db=-1.0)
    assert result.gain_limited
    assert result.true_peak_db <= -1.0
    assert true_peak_db(result.audio, RATE) <= -1.0
    assert np.max(np.abs(result.audio)) < 1.0
    assert result.lufs_after < -23.5  # quieter than the target, and recorded as such


@pytest.mark.parametrize("level", [0.0, 1e-5])  # digital silence, and noise at -100 dBFS
def test_silent_excerpt_is_refused(level: float) -> None:
    audio = (level * np.random.default_rng(2).standard_normal((3 * RATE, 2))).astype(np.float32)
    with pytest.raises(AudioError, match="excerpt is silent"):
        normalise(audio, RATE)
