"""The gold clip known to be Bad: the music ruined past doubt, at the stimuli's loudness."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.audio.loudness import integrated_loudness, true_peak_db
from modeling.audio.ruin import GAP_HZ, GAP_SHARE, ruined

RATE = 16_000


def music(seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 5000 * t)
    right = 0.3 * np.sin(2 * np.pi * 330 * t)
    return np.stack([left, right], axis=1)


def test_the_ruined_clip_keeps_shape_and_reaches_the_loudness() -> None:
    clip = ruined(music(), RATE, seed=1, target_lufs=-23.0)
    assert clip.shape == music().shape and clip.dtype == np.float32
    assert integrated_loudness(clip, RATE) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_db(clip, RATE) <= -1.0 + 1e-6
    assert ruined(music()[:, 0], RATE, seed=1, target_lufs=-23.0).ndim == 1


def test_it_is_seeded() -> None:
    a = ruined(music(), RATE, seed=[3, 7], target_lufs=-23.0)
    assert np.array_equal(a, ruined(music(), RATE, seed=[3, 7], target_lufs=-23.0))
    assert not np.array_equal(a, ruined(music(), RATE, seed=[3, 8], target_lufs=-23.0))


def test_the_sound_cuts_out_and_the_music_is_buried_in_noise() -> None:
    clip = ruined(music(), RATE, seed=0, target_lufs=-23.0)
    silent = np.all(clip == 0.0, axis=1)
    assert silent.mean() == pytest.approx(GAP_SHARE, abs=0.01)
    period = int(RATE / GAP_HZ)
    assert silent[:period].sum() == pytest.approx(GAP_SHARE * period, abs=2)
    # The 220 Hz tone no longer dominates: the noise is as loud as the music.
    heard = clip[~silent, 0]
    spectrum = np.abs(np.fft.rfft(heard)) ** 2
    freqs = np.fft.rfftfreq(heard.size, 1 / RATE)
    tone = spectrum[(freqs > 200) & (freqs < 240)].sum()
    assert tone / spectrum.sum() < 0.5
    # The 5 kHz partial is cut with the band.
    partial = (
        spectrum[(freqs > 4900) & (freqs < 5100)].sum() / ((freqs > 4900) & (freqs < 5100)).sum()
    )
    noise_floor = spectrum[(freqs > 6000) & (freqs < 7000)].mean()
    assert partial < 3 * noise_floor


def test_no_audio_is_refused() -> None:
    with pytest.raises(ValueError, match="no audio"):
        ruined(np.zeros((0, 2)), RATE, seed=0, target_lufs=-23.0)
