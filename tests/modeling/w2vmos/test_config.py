"""Run settings: paper defaults, JSON round trip, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeling.w2vmos.config import (
    CVConfig,
    ModelConfig,
    PretrainConfig,
    TrainConfig,
    load_config,
    write_json,
)
from modeling.w2vmos.errors import W2VMOSError


def test_defaults_are_the_papers() -> None:
    train = TrainConfig()
    assert (train.lr_backbone, train.lr_head, train.batch_size, train.patience) == (
        1e-5,
        1e-4,
        4,
        20,
    )
    assert (CVConfig().k, PretrainConfig().window_seconds, PretrainConfig().hop_seconds) == (
        3,
        20.0,
        10.0,
    )


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(tiny_config={"hidden_size": 32}),
        ModelConfig(backbone="facebook/wav2vec2-base", freeze_feature_encoder=False),
        TrainConfig(device="cpu", precision="bf16", max_seconds=None),
        CVConfig(k=5, mapping_fit="validation", random_labels=True),
        PretrainConfig(max_steps=10),
    ],
)
def test_configs_round_trip_through_json(
    config: ModelConfig | TrainConfig | CVConfig | PretrainConfig, tmp_path: Path
) -> None:
    write_json(tmp_path / "c.json", config.to_dict())
    assert load_config(type(config), tmp_path / "c.json") == config


def test_unknown_or_invalid_settings_are_refused() -> None:
    with pytest.raises(W2VMOSError, match="unknown TrainConfig settings: lr"):
        TrainConfig.from_dict({"lr": 0.1})
    with pytest.raises(W2VMOSError, match="device must be one of"):
        TrainConfig(device="tpu")
    with pytest.raises(W2VMOSError, match="precision must be one of"):
        TrainConfig(precision="int8")
    with pytest.raises(W2VMOSError, match="16 kHz"):
        TrainConfig(sample_rate=44100)
    with pytest.raises(W2VMOSError, match="mapping_fit"):
        CVConfig(mapping_fit="train")  # type: ignore[arg-type]
