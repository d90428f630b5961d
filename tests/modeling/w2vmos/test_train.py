"""Fine-tuning: the loss falls on a known degradation, early stopping, exact resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from modeling.w2vmos.config import ModelConfig, TrainConfig, read_json
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.runtime import load_checkpoint
from modeling.w2vmos.train import EpochProgress, train_model

from .conftest import TINY_GROUP

NO_DROPOUT = {
    **TINY_GROUP,
    "hidden_dropout": 0.0,
    "attention_dropout": 0.0,
    "activation_dropout": 0.0,
    "layerdrop": 0.0,
}
NoisySet = Callable[[int], tuple[list[Path], list[float]]]


def _split(paths: list[Path], labels: list[float], every: int = 4) -> dict[str, Any]:
    val = [i for i in range(len(paths)) if i % every == every // 2]
    train = [i for i in range(len(paths)) if i not in val]
    return {
        "train_paths": [paths[i] for i in train],
        "train_labels": [labels[i] for i in train],
        "val_paths": [paths[i] for i in val],
        "val_labels": [labels[i] for i in val],
    }


def test_training_loss_falls_when_mos_follows_added_noise(
    noisy_set: NoisySet, tmp_path: Path
) -> None:
    paths, labels = noisy_set(16)
    seen: list[EpochProgress] = []
    result = train_model(
        **_split(paths, labels),
        model_config=ModelConfig(tiny_config=NO_DROPOUT),
        train_config=TrainConfig(
            lr_backbone=1e-3, lr_head=1e-2, max_epochs=12, patience=100, max_seconds=None
        ),
        run_dir=tmp_path / "run",
        progress=seen.append,
    )
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 12 and [p.epoch for p in seen] == list(range(1, 13))
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:2]) / 2
    assert result.model_dir is not None and (result.model_dir / "head.pt").is_file()


def test_early_stopping_keeps_the_best_epoch(noisy_set: NoisySet, tmp_path: Path) -> None:
    paths, labels = noisy_set(8)
    # Learning rates of 0: the validation loss never improves after epoch 1.
    result = train_model(
        **_split(paths, labels),
        model_config=ModelConfig(tiny_config=TINY_GROUP),
        train_config=TrainConfig(lr_backbone=0.0, lr_head=0.0, patience=3, max_epochs=50),
        run_dir=tmp_path / "run",
    )
    assert result.stopped_early and not result.cancelled
    assert result.best_epoch == 1 and result.epochs_run == 4
    assert not (tmp_path / "run" / "last.pt").exists()  # checkpoints go once finished
    config = read_json(tmp_path / "run" / "config.json")
    assert config["code_version"] and config["resolved"]["device"] == "cpu"
    assert config["train"]["patience"] == 3 and config["model"]["tiny_config"] == TINY_GROUP


def test_an_interrupted_run_resumes_to_the_same_weights(
    noisy_set: NoisySet, tmp_path: Path
) -> None:
    paths, labels = noisy_set(12)  # 9 training clips: 3 batches per epoch
    common: dict[str, Any] = {
        **_split(paths, labels),
        "model_config": ModelConfig(tiny_config=TINY_GROUP),  # dropout and LayerDrop on
        "train_config": TrainConfig(
            lr_backbone=1e-3, lr_head=1e-2, max_epochs=3, patience=10, keep_checkpoints=True
        ),
    }
    straight = train_model(**common, run_dir=tmp_path / "straight")

    polls = 0

    def stop_in_epoch_two() -> bool:
        nonlocal polls
        polls += 1
        return polls == 5  # before the second batch of epoch 2

    cut = train_model(**common, run_dir=tmp_path / "cut", should_stop=stop_in_epoch_two)
    assert cut.cancelled and cut.model_dir is None
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    resumed = train_model(**common, run_dir=tmp_path / "cut")
    assert resumed.epochs_run == 3 and resumed.history == straight.history

    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    # A finished run folder returns its result without training again.
    called: list[EpochProgress] = []
    again = train_model(**common, run_dir=tmp_path / "cut", progress=called.append)
    assert again == resumed and not called


def test_a_run_folder_refuses_other_settings(noisy_set: NoisySet, tmp_path: Path) -> None:
    paths, labels = noisy_set(8)
    split = _split(paths, labels)
    model_config = ModelConfig(tiny_config=TINY_GROUP)
    train_model(
        **split,
        model_config=model_config,
        train_config=TrainConfig(max_epochs=1),
        run_dir=tmp_path / "run",
        should_stop=lambda: True,
    )
    with pytest.raises(W2VMOSError, match="another configuration"):
        train_model(
            **split,
            model_config=model_config,
            train_config=TrainConfig(max_epochs=2),
            run_dir=tmp_path / "run",
        )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_fails_before_any_work(
    noisy_set: NoisySet, tmp_path: Path
) -> None:
    paths, labels = noisy_set(8)
    with pytest.raises(W2VMOSError, match="no CUDA GPU is available"):
        train_model(
            **_split(paths, labels),
            model_config=ModelConfig(tiny_config=TINY_GROUP),
            train_config=TrainConfig(device="cuda"),
            run_dir=tmp_path / "run",
        )
    assert not (tmp_path / "run").exists()
    with pytest.raises(W2VMOSError, match="fp16 autocast needs a CUDA GPU"):
        train_model(
            **_split(paths, labels),
            model_config=ModelConfig(tiny_config=TINY_GROUP),
            train_config=TrainConfig(device="cpu", precision="fp16"),
            run_dir=tmp_path / "run",
        )


def test_unreadable_training_audio_is_a_clear_error(noisy_set: NoisySet, tmp_path: Path) -> None:
    paths, labels = noisy_set(8)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    split = _split([broken, *paths[1:]], labels)
    with pytest.raises(W2VMOSError, match=r"cannot train: .*broken\.wav"):
        train_model(
            **split,
            model_config=ModelConfig(tiny_config=TINY_GROUP),
            train_config=TrainConfig(max_epochs=1),
            run_dir=tmp_path / "run",
        )


def test_a_kill_between_the_two_checkpoints_is_repaired_on_resume(
    noisy_set: NoisySet, tmp_path: Path
) -> None:
    paths, labels = noisy_set(8)  # 6 training clips: 2 batches per epoch
    common: dict[str, Any] = {
        **_split(paths, labels),
        "model_config": ModelConfig(tiny_config=TINY_GROUP),
        "train_config": TrainConfig(max_epochs=2, keep_checkpoints=True),
        "run_dir": tmp_path / "run",
    }
    polls = iter(range(100))
    cut = train_model(**common, should_stop=lambda: next(polls) == 2)  # after epoch 1
    assert cut.cancelled
    (tmp_path / "run" / "best.pt").unlink()  # as if killed after last.pt was written
    done = train_model(**common)
    assert not done.cancelled and done.epochs_run == 2
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == done.best_epoch
