"""Small real audio files for the corpus tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.services import experiment_create
from modeling.synth import synth_track

WriteTrack = Callable[..., Path]


@pytest.fixture
def write_track(tmp_path: Path) -> WriteTrack:
    """Write a synthetic track: `write_track("a.wav", seconds=4, sample_rate=16000)`."""

    def write(
        name: str,
        *,
        seconds: float = 4.0,
        sample_rate: int = 16000,
        channels: int = 2,
        seed: int = 0,
        faults: dict[str, float] | None = None,
        folder: Path | None = None,
    ) -> Path:
        path = (folder or tmp_path / "archive") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        audio = synth_track(
            seconds=seconds,
            sample_rate=sample_rate,
            channels=min(channels, 2),
            seed=seed,
            faults=faults,
        )
        if channels > 2:  # e.g. 6-channel: the stereo pair plus quieter extra channels
            extra = np.repeat(audio[:, :1] * 0.3, channels - 2, axis=1)
            audio = np.concatenate([audio, extra], axis=1)
        sf.write(path, audio, sample_rate)
        return path

    return write


@pytest.fixture
def experiment(db: None) -> Experiment:
    """An experiment with 2 s excerpts so preparation stays quick."""
    return experiment_create(
        slug="vinyl-test", name="Vinyl test", settings={"excerpt_seconds": 2.0, "n_clusters": 2}
    )
