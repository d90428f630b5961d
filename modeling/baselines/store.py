"""The baselines' file-level front end, and building, saving and loading them.

A saved baseline is a folder with `weights.pt` (the state dict) and `baseline.json`
(format, network name, mel settings, code version)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from modeling import provenance
from modeling.baselines.nets import NISQA, ConvMaxPool, MelModel
from modeling.baselines.pretext import ConvMaxPoolMTL
from modeling.mel import MelSettings, log_mel, mel_segments
from modeling.w2vmos.data import load_audio_mono
from modeling.w2vmos.errors import AudioReadError, W2VMOSError

_FORMAT = 1
META_FILE = "baseline.json"
_WEIGHTS_FILE = "weights.pt"
#: The network of each baseline model name (the two NISQA runs differ in their loss, the
#: ConvMaxPools in the pre-training their CNN starts from).
NETWORKS: dict[str, type[MelModel]] = {
    "nisqa": NISQA,
    "nisqa_l1": NISQA,
    "convmaxpool": ConvMaxPool,
    "convmaxpool_ae": ConvMaxPool,
    "convmaxpool_degr": ConvMaxPool,
    "convmaxpool_dcec": ConvMaxPool,
    "convmaxpool_dcec_mtl": ConvMaxPoolMTL,
}


@dataclass(frozen=True)
class MelFrontEnd:
    """A file's mel segments (n_segments, n_mels, seg_length): mono at the settings'
    rate, log-mel, NISQA's segments. Picklable, for data-loading workers."""

    settings: MelSettings = field(default_factory=MelSettings)

    def __call__(
        self, path: Path, *, max_seconds: float | None, start_seconds: float | None = None
    ) -> NDArray[np.float32]:
        s = self.settings
        audio = load_audio_mono(
            path,
            sample_rate=s.sample_rate,
            max_seconds=max_seconds,
            start_seconds=start_seconds,
            min_samples=s.min_samples,
        )
        spectrogram = log_mel(audio, s.sample_rate, s)
        try:
            return mel_segments(spectrogram, s.seg_length, s.seg_hop)
        except ValueError as exc:
            raise AudioReadError(f"{path}: {exc}") from exc


def build_baseline(
    name: str,
    mel: dict[str, Any] | None = None,
    *,
    pretrained: str | None = None,
    clusters: tuple[int, int] | None = None,
) -> MelModel:
    """A freshly initialised baseline (torch's global RNG: seed first), its CNN copied
    from the product of a pre-training when `pretrained` is given (refused unless it is
    the one the model starts from, with the same log-mel settings). The multi-task model
    needs its (embed_dim, clusters): from the product, or `clusters` when loading."""
    from modeling.baselines.product import product_for

    if name not in NETWORKS:
        raise W2VMOSError(f"unknown baseline {name!r}; one of {', '.join(NETWORKS)}")
    try:
        settings = MelSettings.from_dict(mel)
    except (TypeError, ValueError) as exc:
        raise W2VMOSError(f"invalid mel settings: {exc}") from exc
    product = product_for(name, pretrained) if pretrained else None
    if product is not None and MelSettings.from_dict(product.mel) != settings:
        raise W2VMOSError(f"{pretrained} was pre-trained on other log-mel settings")
    if NETWORKS[name] is ConvMaxPoolMTL:
        shape = (product.embed_dim, product.clusters) if product else clusters
        if shape is None:
            raise W2VMOSError(f"{name} needs the DCEC product it is fine-tuned from")
        model: MelModel = ConvMaxPoolMTL(settings, embed_dim=shape[0], clusters=shape[1])
    else:
        model = NETWORKS[name](settings)
    if product is not None:
        from modeling.baselines.pretrain import load_pretrained_cnn

        load_pretrained_cnn(model, product)
    return model


def save_baseline(model: MelModel, name: str, directory: Path | str) -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / _WEIGHTS_FILE)
    meta = {
        "format": _FORMAT,
        "model": name,
        "mel": model.mel.to_dict(),
        "code_version": provenance.code_version(),
    }
    if isinstance(model, ConvMaxPoolMTL):
        meta["clusters"] = list(model.clustering.centers.shape[::-1])
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def load_baseline(directory: Path | str) -> MelModel:
    """A baseline saved by `save_baseline`, in eval mode on the CPU."""
    root = Path(directory)
    try:
        meta = json.loads((root / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise W2VMOSError(f"{root} is not a saved baseline model: {exc}") from exc
    if meta.get("format") != _FORMAT:
        raise W2VMOSError(f"{root}: unsupported baseline format {meta.get('format')!r}")
    shape = meta.get("clusters")
    model = build_baseline(
        str(meta.get("model")), meta.get("mel"), clusters=tuple(shape) if shape else None
    )
    state = torch.load(root / _WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()
