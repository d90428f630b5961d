"""Self-supervised pre-training: windows, a few steps on synthetic music, and a
checkpoint that fine-tuning takes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from modeling.w2vmos.config import ModelConfig, PretrainConfig
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.model import build_model
from modeling.w2vmos.pretrain import PretrainProgress, find_audio_files, pretrain, segment_starts

from .conftest import TINY_GROUP, ClipFactory


def _small(*, max_steps: int, save_every: int) -> PretrainConfig:
    """1 s windows every 0.5 s, batches of 2, masks a tiny model can hold."""
    return PretrainConfig(
        window_seconds=1.0,
        hop_seconds=0.5,
        min_seconds=0.5,
        batch_size=2,
        max_steps=max_steps,
        warmup_steps=1,
        mask_time_prob=0.5,
        mask_time_length=2,
        save_every=save_every,
    )


def test_windows_are_20_s_every_10_s() -> None:
    assert segment_starts(45.0, window=20.0, hop=10.0, minimum=2.0) == [0.0, 10.0, 20.0]
    assert segment_starts(40.0, window=20.0, hop=10.0, minimum=2.0) == [0.0, 10.0, 20.0]
    assert segment_starts(20.0, window=20.0, hop=10.0, minimum=2.0) == [0.0]
    assert segment_starts(15.0, window=20.0, hop=10.0, minimum=2.0) == [0.0]  # one short
    assert segment_starts(1.0, window=20.0, hop=10.0, minimum=2.0) == []


def test_a_few_pretraining_steps_give_a_backbone_for_w2vmos(
    make_clip: ClipFactory, tmp_path: Path
) -> None:
    for i in range(3):
        make_clip(f"music{i}.wav", seconds=2.0, seed=i)
    make_clip("short.wav", seconds=0.7, seed=5)
    make_clip("too-short.wav", seconds=0.2, seed=6)
    (tmp_path / "audio" / "broken.flac").write_bytes(b"fLaC but not really")
    files = find_audio_files(tmp_path / "audio")
    assert len(files) == 6

    config = _small(max_steps=3, save_every=2)
    steps: list[PretrainProgress] = []
    result = pretrain(
        files,
        init=ModelConfig(tiny_config=TINY_GROUP),
        config=config,
        out_dir=tmp_path / "pre",
        progress=steps.append,
    )
    assert result.segments == 3 * 3 + 1  # 2 s files: windows at 0, 0.5, 1.0 s
    assert sorted(Path(p).name for p, _ in result.skipped) == ["broken.flac", "too-short.wav"]
    assert [s.step for s in steps] == [1, 2, 3]
    assert all(math.isfinite(s.loss) and s.loss > 0 for s in steps)
    assert steps[0].gumbel_temperature == pytest.approx(2.0)
    assert result.backbone_dir is not None

    model = build_model(ModelConfig(backbone=str(result.backbone_dir))).eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 16000))).all()


def test_pretraining_needs_audio(tmp_path: Path) -> None:
    with pytest.raises(W2VMOSError, match="no audio to pre-train on"):
        pretrain(
            [],
            init=ModelConfig(tiny_config=TINY_GROUP),
            config=PretrainConfig(),
            out_dir=tmp_path / "pre",
        )


def test_a_stopped_pretraining_resumes_where_it_stopped(
    make_clip: ClipFactory, tmp_path: Path
) -> None:
    files = [make_clip(f"m{i}.wav", seconds=2.0, seed=i) for i in range(2)]
    config = _small(max_steps=4, save_every=100)
    steps: list[PretrainProgress] = []
    first = pretrain(
        files,
        init=ModelConfig(tiny_config=TINY_GROUP),
        config=config,
        out_dir=tmp_path / "pre",
        progress=steps.append,
        should_stop=lambda: len(steps) >= 2,
    )
    assert first.cancelled and first.steps == 2

    second = pretrain(
        files,
        init=ModelConfig(tiny_config=TINY_GROUP),
        config=config,
        out_dir=tmp_path / "pre",
        progress=steps.append,
    )
    assert not second.cancelled and second.backbone_dir is not None
    assert [s.step for s in steps] == [1, 2, 3, 4]
