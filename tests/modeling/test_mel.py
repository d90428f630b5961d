"""The baselines' log-mel front end: NISQA's settings, frame and segment counts, the dB
floor and range, where a tone lands, and the segments' frames."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from modeling.mel import MelSettings, log_mel, mel_segments, segment_count

SR = 48_000


def tone(hz: float, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return amplitude * np.sin(2 * np.pi * hz * t)


def test_defaults_are_nisqas() -> None:
    s = MelSettings()
    assert (s.n_mels, s.n_fft, s.fmax, s.top_db) == (48, 4096, 20000.0, 80.0)
    assert (s.win_length, s.hop_length) == (960, 480)  # 20 ms and 10 ms at 48 kHz
    assert (s.seg_length, s.seg_hop) == (15, 4)
    assert s.min_samples == 14 * 480
    assert MelSettings.from_dict(s.to_dict()) == s and MelSettings.from_dict(None) == s


def test_one_second_gives_101_centred_frames_and_silence_sits_at_the_floor() -> None:
    spec = log_mel(np.zeros(SR), SR)
    assert spec.shape == (48, 101)  # 1 + 48000 // 480
    assert spec.dtype == np.float32
    np.testing.assert_allclose(spec, -80.0, atol=1e-4)  # 20 log10(1e-4)


def test_a_tone_lands_in_its_band_and_the_range_is_cut_at_80_db() -> None:
    # Band k spans mel points k..k+2 of 50 points from 0 Hz to 20 kHz; below 1 kHz they
    # are 79.69 Hz apart: 1 kHz lies between the centres of bands 11 (956 Hz) and 12
    # (1038 Hz), nearer 12.
    spec = log_mel(tone(1000.0), SR)
    assert int(spec[:, 50].argmax()) == 12
    assert spec.max() - spec.min() == pytest.approx(80.0, abs=1e-3)
    higher = log_mel(tone(5000.0), SR)
    assert int(higher[:, 50].argmax()) > 25


def test_segments_are_15_frames_every_4() -> None:
    spec = np.arange(2 * 20, dtype=np.float32).reshape(2, 20)  # 2 bands, 20 frames
    segments = mel_segments(spec)
    # 20 - 14 = 6 windows, every 4th: starting at frames 0 and 4
    assert segments.shape == (2, 2, 15)
    np.testing.assert_array_equal(segments[1, 0], np.arange(4, 19))
    np.testing.assert_array_equal(segments[1, 1], np.arange(24, 39))
    assert segment_count(20) == 2 and segment_count(14) == 0
    assert segment_count(1001) == 247  # a 10 s stimulus
    assert mel_segments(log_mel(np.zeros(10 * SR), SR)).shape == (247, 48, 15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: log_mel(np.zeros(SR), 16_000), "resample"),
        (lambda: log_mel(np.full(100, np.nan), SR), "NaN"),
        (lambda: log_mel(np.zeros((2, 100)), SR), "mono"),
        (lambda: mel_segments(np.zeros((48, 14), np.float32)), "fewer than one segment"),
        (lambda: MelSettings(sample_rate=16_000), "Nyquist"),
        (lambda: MelSettings(seg_length=14), "odd"),
        (lambda: MelSettings.from_dict({"bands": 48}), "unknown"),
    ],
)
def test_bad_input(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
