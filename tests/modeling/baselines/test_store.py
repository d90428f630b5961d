"""The baselines through the shared code: the mel front end on files, save and load,
training with each model's defaults and loss, a cross-validation, and the refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modeling.baselines.nets import NISQA, ConvMaxPool
from modeling.baselines.store import MelFrontEnd, load_baseline, save_baseline
from modeling.w2vmos.config import (
    CVConfig,
    ModelConfig,
    ModelName,
    TrainConfig,
    check_pairing,
    read_json,
    train_config_for,
)
from modeling.w2vmos.crossval import run_crossval
from modeling.w2vmos.data import ManifestItem
from modeling.w2vmos.errors import AudioReadError, W2VMOSError
from modeling.w2vmos.kinds import is_saved_model, load_quality_model
from modeling.w2vmos.score import score_files
from modeling.w2vmos.train import train_model

NoisySet = Callable[[int], tuple[list[Path], list[float]]]
ClipFactory = Callable[..., Path]


def test_a_one_second_16_khz_file_gives_22_segments(make_clip: ClipFactory) -> None:
    # Resampled to 48 kHz: 101 frames, (101 - 14) / 4 rounded up = 22 segments.
    segments = MelFrontEnd()(make_clip("a.wav", seconds=1.0), max_seconds=10.0)
    assert segments.shape == (22, 48, 15) and segments.dtype == np.float32
    middle = MelFrontEnd()(make_clip("b.wav", seconds=3.0), max_seconds=1.0)
    assert middle.shape == (22, 48, 15)  # the middle second only


def test_audio_shorter_than_one_segment_is_refused(make_clip: ClipFactory) -> None:
    with pytest.raises(AudioReadError, match="shorter than"):
        MelFrontEnd()(make_clip("short.wav", seconds=0.1), max_seconds=10.0)


@pytest.mark.parametrize("net", [NISQA, ConvMaxPool])
def test_a_saved_baseline_loads_with_the_same_scores(
    net: type[NISQA] | type[ConvMaxPool], tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = net().eval()
    folder = save_baseline(model, "nisqa" if net is NISQA else "convmaxpool", tmp_path / "m")
    assert is_saved_model(folder)
    loaded = load_quality_model(folder)
    assert isinstance(loaded, net) and not loaded.training
    x, mask = torch.randn(2, 5, 48, 15), torch.ones(2, 5, dtype=torch.long)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, mask), model(x, mask))
    (folder / "baseline.json").write_text('{"format": 1, "model": "resnet"}')
    with pytest.raises(W2VMOSError, match="unknown baseline 'resnet'"):
        load_baseline(folder)


def test_each_model_gets_the_papers_training_defaults() -> None:
    convmaxpool = train_config_for("convmaxpool")
    assert (convmaxpool.batch_size, convmaxpool.lr_backbone, convmaxpool.lr_head) == (
        16,
        1e-4,
        1e-3,
    )
    assert convmaxpool.loss == "l1" and convmaxpool.patience == 20
    nisqa = train_config_for("nisqa", batch_size=None, max_epochs=3)
    assert (nisqa.batch_size, nisqa.lr_head, nisqa.loss, nisqa.max_epochs) == (40, 1e-3, "l2", 3)
    assert nisqa.lr_plateau_patience == 15
    assert train_config_for("nisqa_l1").loss == "l1"
    assert train_config_for("w2vmos") == TrainConfig()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ModelConfig(name="nisqa", backbone="facebook/wav2vec2-base"), "no wav2vec"),
        (lambda: ModelConfig(name="resnet"), "model must be one of"),  # type: ignore[arg-type]
        (lambda: ModelConfig(tiny_config={}, mel={"n_mels": 40}), "for the baselines"),
        (lambda: check_pairing(ModelConfig(name="nisqa"), TrainConfig(loss="l1")), "nisqa_l1"),
        (lambda: check_pairing(ModelConfig(name="nisqa_l1"), TrainConfig(loss="l2")), "L1 loss"),
        (lambda: TrainConfig(loss="huber"), "loss must be"),  # type: ignore[arg-type]
    ],
)
def test_contradictory_settings_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(W2VMOSError, match=message):
        make()


@pytest.mark.parametrize("name", ["convmaxpool", "nisqa"])
def test_training_lowers_the_loss_and_saves_a_scoring_model(
    name: ModelName, noisy_set: NoisySet, tmp_path: Path
) -> None:
    paths, labels = noisy_set(12)
    train_config = train_config_for(
        name, batch_size=4, max_epochs=8, patience=100, lr_backbone=1e-3, lr_head=1e-2
    )
    result = train_model(
        train_paths=paths[:9],
        train_labels=labels[:9],
        val_paths=paths[9:],
        val_labels=labels[9:],
        model_config=ModelConfig(name=name),
        train_config=train_config,
        run_dir=tmp_path / "run",
    )
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 8 and min(losses[-3:]) < losses[0]
    assert result.model_dir is not None and (result.model_dir / "baseline.json").is_file()
    config = read_json(tmp_path / "run" / "config.json")
    assert config["model"]["name"] == name and config["train"]["loss"] == train_config.loss
    scores = list(score_files(load_quality_model(result.model_dir), paths[:3], num_workers=0))
    assert sorted(r.index for r in scores) == [0, 1, 2]
    assert all(r.mos is not None and np.isfinite(r.mos) for r in scores)


def test_a_baseline_cross_validation_writes_the_same_results(
    make_clip: ClipFactory, tmp_path: Path
) -> None:
    items = [
        ManifestItem(
            make_clip(f"c{i:02d}.wav", noise=0.3 * i / 17, seed=i), 4.5 - i / 6, 0.2, f"Q{i // 6}"
        )
        for i in range(18)
    ]
    result = run_crossval(
        items,
        model_config=ModelConfig(name="convmaxpool"),
        train_config=train_config_for("convmaxpool", batch_size=8, max_epochs=2),
        cv_config=CVConfig(k=3),
        run_dir=tmp_path / "cv",
    )
    assert result.complete and len(result.folds) == 3
    assert set(result.summary) >= {"rmse", "pcc", "srcc", "pra"}
    stored = read_json(tmp_path / "cv" / "results.json")
    assert stored["model"]["name"] == "convmaxpool" and len(stored["predictions"]) == 18


def test_a_run_folder_from_before_the_baselines_still_matches_its_settings() -> None:
    """config.json written before `name`, `mel`, `loss` and the schedule existed."""
    from modeling.w2vmos.train import stored_identity

    model, train = ModelConfig(tiny_config={"hidden_size": 32}), TrainConfig()
    identity = {"model": model.to_dict(), "train": train.to_dict(), "data": {"n": 3}}
    old_model = {k: v for k, v in model.to_dict().items() if k not in ("name", "mel")}
    old_train = {
        k: v for k, v in train.to_dict().items() if k not in ("loss", "lr_plateau_patience")
    }
    stored: dict[str, Any] = {
        "model": old_model,
        "train": old_train,
        "data": {"n": 3},
        "code_version": "x",
    }
    assert stored_identity(stored, identity) == identity
    stored["train"]["batch_size"] = 8
    assert stored_identity(stored, identity) != identity
