"""Build, save and load a run's model whatever its kind: w2vMOS (`model`) or one of the
paper's baselines (`modeling.baselines`), chosen by `ModelConfig.name`. A saved model
folder says its own kind (`w2vmos.json` or `baseline.json`)."""

from __future__ import annotations

from pathlib import Path

from modeling.w2vmos.config import ModelConfig
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.quality_model import QualityModel

_W2VMOS_META = "w2vmos.json"
_BASELINE_META = "baseline.json"


def build_quality_model(config: ModelConfig) -> QualityModel:
    """A fresh model of the configured kind (seed first: initialisation is random)."""
    if config.is_baseline:
        from modeling.baselines.store import build_baseline

        return build_baseline(config.name, config.mel, pretrained=config.pretrained)
    from modeling.w2vmos.model import build_model

    return build_model(config)


def save_quality_model(model: QualityModel, config: ModelConfig, directory: Path) -> Path:
    if config.is_baseline:
        from modeling.baselines.nets import MelModel
        from modeling.baselines.store import save_baseline

        assert isinstance(model, MelModel)
        return save_baseline(model, config.name, directory)
    from modeling.w2vmos.model import W2VMOS, save_model

    assert isinstance(model, W2VMOS)
    return save_model(model, directory)


def is_saved_model(directory: Path | str) -> bool:
    root = Path(directory)
    return (root / _W2VMOS_META).is_file() or (root / _BASELINE_META).is_file()


def load_quality_model(directory: Path | str) -> QualityModel:
    """A model saved by `save_quality_model`, in eval mode on the CPU."""
    root = Path(directory)
    if (root / _BASELINE_META).is_file():
        from modeling.baselines.store import load_baseline

        return load_baseline(root)
    if not (root / _W2VMOS_META).is_file():
        raise W2VMOSError(f"{root} is not a saved model (no {_W2VMOS_META} or {_BASELINE_META})")
    from modeling.w2vmos.model import load_model

    return load_model(root)
