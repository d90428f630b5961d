"""Tiny random-init wav2vec 2.0 configurations and synthetic music clips whose quality
label follows a known degradation (the more added noise, the lower the MOS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

SR = 16000

#: A few thousand parameters; 80x down-sampling CNN so a 1 s clip is 200 frames.
TINY: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16, 16, 16],
    "conv_kernel": [10, 8, 4],
    "conv_stride": [5, 4, 4],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "codevector_dim": 16,
    "proj_codevector_dim": 16,
    "num_codevectors_per_group": 8,
    "num_codevector_groups": 2,
    "num_negatives": 5,
}
#: wav2vec2-base style (GroupNorm in the first CNN layer, post-LN Transformer).
TINY_GROUP: dict[str, Any] = {**TINY, "feat_extract_norm": "group"}
#: large-lv60 style (LayerNorm in every CNN layer, pre-LN Transformer).
TINY_LAYER: dict[str, Any] = {**TINY, "feat_extract_norm": "layer", "do_stable_layer_norm": True}


def music(seconds: float, seed: int, sr: int = SR) -> np.ndarray:
    """A few harmonic tones with a slow tremolo: not speech, not silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tone = np.zeros_like(t)
    for f0 in rng.uniform(110, 440, 3):
        for h in range(1, 4):
            tone += np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
    tone *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t)
    peak = float(np.abs(tone).max())
    return 0.2 * tone / peak


ClipFactory = Callable[..., Path]


@pytest.fixture
def make_clip(tmp_path: Path) -> ClipFactory:
    def make(
        name: str,
        *,
        noise: float = 0.0,
        seconds: float = 1.0,
        seed: int = 0,
        sr: int = SR,
        channels: int = 1,
    ) -> Path:
        rng = np.random.default_rng(seed + 10_000)
        clean = music(seconds, seed, sr)
        signal = clean + noise * rng.standard_normal(clean.size)
        data = np.repeat(signal[:, None], channels, axis=1) if channels > 1 else signal
        path = tmp_path / "audio" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data.astype(np.float32), sr)
        return path

    return make


def mos_for_noise(noise: float, max_noise: float) -> float:
    """The known degradation: clean 4.5, loudest noise 1.5."""
    return 4.5 - 3.0 * noise / max_noise


@pytest.fixture
def noisy_set(make_clip: ClipFactory) -> Callable[[int], tuple[list[Path], list[float]]]:
    """n clips with noise levels spread evenly; labels follow `mos_for_noise`."""

    def build(n: int) -> tuple[list[Path], list[float]]:
        levels = np.linspace(0.0, 0.3, n)
        paths = [make_clip(f"clip{i:02d}.wav", noise=lv, seed=i) for i, lv in enumerate(levels)]
        return paths, [mos_for_noise(lv, 0.3) for lv in levels]

    return build
