"""Tiny wav2vec 2.0 checkpoints saved to disk (no downloads ever) and experiments whose
stimuli have synthetic FLAC masters with labels that follow a known degradation: the
more hiss, the lower the MOS."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.files.base import ContentFile

from crowdtest.corpus.models import Experiment
from crowdtest.training.models import ModelRun
from modeling.synth import synth_track
from tests.factories import ExperimentFactory, StimulusFactory, StimulusMOSFactory
from tests.modeling.w2vmos.conftest import TINY_GROUP

SR = 16000
#: Fast settings for the command: a few epochs with learning rates that move a tiny model.
FAST = ["--device", "cpu", "--lr-backbone", "1e-3", "--lr-head", "1e-2", "--batch-size", "4"]


def save_tiny_backbone(folder: Path, *, pretraining: bool = False) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(**TINY_GROUP)
    model = Wav2Vec2ForPreTraining(config) if pretraining else Wav2Vec2Model(config)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init wav2vec 2.0 checkpoint folder, as `--backbone` takes it."""
    return save_tiny_backbone(tmp_path_factory.mktemp("tiny-w2v2"))


def flac_bytes(seconds: float, *, seed: int, hiss: float) -> bytes:
    audio = synth_track(
        seconds=seconds, sample_rate=SR, channels=1, seed=seed, faults={"hiss": hiss}
    )
    out = io.BytesIO()
    sf.write(out, audio, SR, format="FLAC")
    return out.getvalue()


def mos_for_hiss(hiss: float) -> float:
    """The known degradation: clean 4.5, full hiss 1.5."""
    return 4.5 - 3.0 * hiss


def labelled_experiment(n: int = 18, *, seconds: float = 1.0, slug: str = "") -> Experiment:
    """An experiment with n ready stimuli, each with a FLAC master and an imported MOS
    that falls with its hiss."""
    experiment = ExperimentFactory(**({"slug": slug} if slug else {}))
    for i, hiss in enumerate(np.linspace(0.0, 1.0, n)):
        stimulus = StimulusFactory(
            track__experiment=experiment,
            master=ContentFile(flac_bytes(seconds, seed=i, hiss=float(hiss)), name=f"m{i}.flac"),
        )
        StimulusMOSFactory(
            stimulus=stimulus, mos=mos_for_hiss(float(hiss)), ci95_normal=0.15 + 0.01 * (i % 5)
        )
    return experiment


@pytest.fixture
def make_experiment(db: None) -> Callable[..., Experiment]:
    return labelled_experiment


def write_wavs(folder: Path, n: int, *, seconds: float = 1.0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"track{i:02d}.wav"
        audio = synth_track(seconds=seconds, sample_rate=SR, channels=1, seed=100 + i)
        sf.write(path, audio, SR)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def tiny_scoring_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved random-init w2vMOS (the tiny backbone and a fresh head), built from its
    config: what a finished run's fold leaves to score with."""
    import torch

    from modeling.w2vmos.config import ModelConfig
    from modeling.w2vmos.model import build_model, save_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(tiny_config=TINY_GROUP))
    return save_model(model, tmp_path_factory.mktemp("tiny-w2vmos") / "model")


def final_run_with_model(model_dir: Path) -> ModelRun:
    """A finished final model whose one fold scores with `model_dir`."""
    from tests.factories import ModelRunFactory

    run = ModelRunFactory(kind="final", config={"train": {"max_seconds": 1.0}})
    run.folds.create(index=0, status="succeeded", model_dir=str(model_dir), best_val_loss=0.3)
    return run


def write_manifest(path: Path, files: list[Path]) -> Path:
    path.write_text("path\n" + "".join(f"{f}\n" for f in files))
    return path
