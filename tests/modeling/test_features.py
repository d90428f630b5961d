"""The 253 features: shape, names, finiteness, determinism, and that they see the faults."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.features import FEATURE_NAMES, FEATURE_VERSION, extract_features
from modeling.synth import synth_track

RATE = 22_050


def features_of(**faults: float) -> dict[str, float]:
    audio = synth_track(seconds=4, sample_rate=RATE, seed=11, faults=faults)
    return dict(zip(FEATURE_NAMES, extract_features(audio, RATE), strict=True))


def test_names_and_version() -> None:
    assert len(FEATURE_NAMES) == 253
    assert len(set(FEATURE_NAMES)) == 253
    assert FEATURE_VERSION == "ct-librosa-253-v1"
    assert {"mfcc03_mean", "d_mfcc03_absmean", "d_mfcc03_std", "clip_fraction"} <= set(
        FEATURE_NAMES
    )
    values = [n for n in FEATURE_NAMES if not n.startswith("d_") and n != "clip_fraction"]
    assert len(values) == 126  # every descriptor appears with its first-order difference
    assert {f"d_{n.rsplit('_', 1)[0]}_std" for n in values} <= set(FEATURE_NAMES)


def test_shape_finite_and_deterministic() -> None:
    audio = synth_track(seconds=3, sample_rate=44_100, seed=2, faults={"crackle": 0.5})
    first = extract_features(audio, 44_100)
    assert first.shape == (253,)
    assert first.dtype == np.float64
    assert np.all(np.isfinite(first))
    assert np.array_equal(first, extract_features(audio, 44_100))
    mono = audio.mean(axis=1)
    np.testing.assert_allclose(extract_features(mono, 44_100), first, rtol=1e-5, atol=1e-6)


def test_comparable_across_sample_rates() -> None:
    low = synth_track(seconds=3, sample_rate=22_050, seed=4)
    high = synth_track(seconds=3, sample_rate=44_100, seed=4)  # same notes, twice the rate
    a, b = extract_features(low, 22_050), extract_features(high, 44_100)
    assert np.corrcoef(a, b)[0, 1] > 0.99


@pytest.mark.parametrize("channels", [1, 2])
def test_silence_gives_finite_features(channels: int) -> None:
    features = extract_features(np.zeros((RATE, channels), np.float32), RATE)
    assert np.all(np.isfinite(features))


def test_features_see_the_faults() -> None:
    clean = features_of()
    assert features_of(hiss=0.9)["flatness_mean"] > 5 * clean["flatness_mean"]
    assert features_of(bandlimit=1.0)["rolloff99_mean"] < 0.5 * clean["rolloff99_mean"]
    assert features_of(clipping=0.8)["clip_fraction"] > 100 * clean["clip_fraction"]
    crackle = features_of(crackle=1.0)
    assert crackle["d_crest_db_absmean"] > 1.5 * clean["d_crest_db_absmean"]


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.full((RATE, 2), np.nan, np.float32), "NaN"),
        (np.zeros((100, 2), np.float32), "at least"),
    ],
)
def test_bad_input(audio: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        extract_features(audio, RATE)
