"""Typed settings of model runs (w2vMOS and the paper's baselines), saved as JSON in
every run folder.

Defaults are the paper's (Ragano et al., ICASSP 2023, §3-5): L1 loss, Adam with lr 1e-5
on the pre-trained part and 1e-4 on the linear head, batch size 4, early stopping after
20 epochs without improvement of the validation loss, 16 kHz mono input, 10 s excerpts,
3-fold stratified cross-validation; wav2vec 2.0 pre-training on 20 s windows, 10 s hop.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from modeling.w2vmos.errors import W2VMOSError

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
#: The models a run can train: w2vMOS and the paper's baselines (Table 1).
ModelName = Literal[
    "w2vmos",
    "nisqa",
    "nisqa_l1",
    "convmaxpool",
    "convmaxpool_ae",
    "convmaxpool_degr",
    "convmaxpool_dcec",
    "convmaxpool_dcec_mtl",
]
Loss = Literal["l1", "l2"]

#: ConvMaxPool fine-tuned from a pre-trained CNN (paper §4.2.3), and the pre-training
#: (`modeling.baselines.pretrain`) whose product each one starts from.
PRETRAINED_FROM: dict[str, str] = {
    "convmaxpool_ae": "autoencoder",
    "convmaxpool_degr": "degradation",
    "convmaxpool_dcec": "dcec",
    "convmaxpool_dcec_mtl": "dcec",
}
MODEL_NAMES: tuple[str, ...] = ("w2vmos", "nisqa", "nisqa_l1", "convmaxpool", *PRETRAINED_FROM)


def pretraining_phrase(method: str) -> str:
    """A pre-training method for messages: "an autoencoder pre-training"."""
    return f"{'an' if method[:1] in tuple('aeiou') else 'a'} {method} pre-training"


BASELINES: tuple[str, ...] = MODEL_NAMES[1:]
#: Table 1's row name of each model.
TABLE_NAMES = {
    "w2vmos": "w2vMOS",
    "nisqa": "NISQA (default)",
    "nisqa_l1": "NISQA (L1 loss)",
    "convmaxpool": "ConvMaxPool",
    "convmaxpool_ae": "ConvMaxPool Autoencoder",
    "convmaxpool_degr": "ConvMaxPool Degr. Class.",
    "convmaxpool_dcec": "ConvMaxPool DCEC",
    "convmaxpool_dcec_mtl": "ConvMaxPool DCEC MTL",
}
#: Each model's training defaults: the paper's (§5) for w2vMOS and ConvMaxPool, and for
#: NISQA its repository's defaults (`train_nisqa_cnn_sa_ap.yaml`: Adam 1e-3 on every
#: layer, batch 40, at most 500 epochs, the learning rate divided by 10 when the training
#: loss has not improved for 15 epochs), with the L2 (MSE) loss or, for "NISQA (L1
#: loss)", L1 for both training and early stopping. Early stopping watches the
#: validation loss for 20 epochs in every model (NISQA's own stops on validation RMSE
#: and PCC; the paper names the loss).
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "w2vmos": {"lr_backbone": 1e-5, "lr_head": 1e-4, "batch_size": 4, "loss": "l1"},
    "nisqa": {
        "lr_backbone": 1e-3,
        "lr_head": 1e-3,
        "batch_size": 40,
        "loss": "l2",
        "max_epochs": 500,
        "lr_plateau_patience": 15,
    },
    "nisqa_l1": {
        "lr_backbone": 1e-3,
        "lr_head": 1e-3,
        "batch_size": 40,
        "loss": "l1",
        "max_epochs": 500,
        "lr_plateau_patience": 15,
    },
    "convmaxpool": {"lr_backbone": 1e-4, "lr_head": 1e-3, "batch_size": 16, "loss": "l1"},
}
#: §5: every ConvMaxPool is fine-tuned alike, pre-trained CNN or not.
TRAIN_DEFAULTS.update(dict.fromkeys(PRETRAINED_FROM, TRAIN_DEFAULTS["convmaxpool"]))

_DEVICES = ("auto", "cpu", "cuda")
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class _JSONConfig:
    """`to_dict`/`from_dict` for flat dataclasses; unknown keys are an error, not ignored,
    so a misspelt setting never silently falls back to a default."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise W2VMOSError(f"unknown {cls.__name__} settings: {', '.join(unknown)}")
        return cls(**data)


def _check_device(device: str, precision: str) -> None:
    if device not in _DEVICES and not device.startswith("cuda:"):
        raise W2VMOSError(f"device must be one of {_DEVICES} or 'cuda:N', got {device!r}")
    if precision not in _PRECISIONS:
        raise W2VMOSError(f"precision must be one of {_PRECISIONS}, got {precision!r}")


@dataclasses.dataclass(frozen=True)
class ModelConfig(_JSONConfig):
    """Which model (`name`), and for w2vMOS where the wav2vec 2.0 backbone comes from: an
    HF-format checkpoint (`backbone`: a local directory or a hub id such as
    "facebook/wav2vec2-base"), or a random initialisation from `tiny_config` (keyword
    arguments of `Wav2Vec2Config`). The baselines start from a random initialisation, or
    for the pre-trained ConvMaxPools (`PRETRAINED_FROM`) from the CNN of a pre-training's
    product folder (`pretrained`), and take their log-mel settings from `mel` (None:
    NISQA's, `modeling.mel.MelSettings`)."""

    name: ModelName = "w2vmos"
    backbone: str | None = None
    tiny_config: dict[str, Any] | None = None
    #: The CNN feature encoder stays as pre-trained (fairseq's fine-tuning default).
    freeze_feature_encoder: bool = True
    #: Zero-mean unit-variance input per clip (HF `do_normalize`): on for checkpoints
    #: pre-trained that way (large-lv60 style), off for base models (fairseq default).
    normalize_waveform: bool = False
    mel: dict[str, Any] | None = None
    pretrained: str | None = None

    def __post_init__(self) -> None:
        if self.name not in MODEL_NAMES:
            raise W2VMOSError(f"model must be one of {', '.join(MODEL_NAMES)}, not {self.name!r}")
        if self.name in PRETRAINED_FROM and not self.pretrained:
            raise W2VMOSError(
                f"{TABLE_NAMES[self.name]} is fine-tuned from "
                f"{pretraining_phrase(PRETRAINED_FROM[self.name])}: give its product folder "
                "(`pretrained`)"
            )
        if self.name not in PRETRAINED_FROM and self.pretrained:
            raise W2VMOSError(
                f"{TABLE_NAMES[self.name]} takes no pre-trained CNN; that is for "
                f"{', '.join(PRETRAINED_FROM)}"
            )
        if self.name != "w2vmos":
            if self.backbone is not None or self.tiny_config is not None:
                raise W2VMOSError(f"{self.name} takes no wav2vec 2.0 backbone or tiny_config")
        elif (self.backbone is None) == (self.tiny_config is None):
            raise W2VMOSError("give exactly one of `backbone` (checkpoint) or `tiny_config`")
        elif self.mel is not None:
            raise W2VMOSError("mel settings are for the baselines, not w2vMOS")

    @property
    def is_baseline(self) -> bool:
        return self.name != "w2vmos"


@dataclasses.dataclass(frozen=True)
class TrainConfig(_JSONConfig):
    lr_backbone: float = 1e-5
    lr_head: float = 1e-4
    batch_size: int = 4
    patience: int = 20
    max_epochs: int = 200
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    num_workers: int = 0
    #: Excerpt length: longer audio is cut to its middle `max_seconds` (the stimuli are
    #: 10 s from the middle of each track); None keeps whole files.
    max_seconds: float | None = 10.0
    sample_rate: int = 16000
    #: Start the head's bias at the training labels' mean, so the first epochs learn
    #: differences between recordings rather than the offset of the MOS scale.
    init_head_bias_to_mean: bool = True
    #: Keep `last.pt` and `best.pt` once the run has finished (a base-sized run's
    #: checkpoint with Adam states is about 1 GB; the final model is saved apart).
    keep_checkpoints: bool = False
    #: L1 (the paper's) or L2 (MSE, NISQA's default), for training and early stopping.
    loss: Loss = "l1"
    #: Divide the learning rates by 10 when the training loss has not improved (by 0.3 %)
    #: for this many epochs, as NISQA does; None: constant learning rates.
    lr_plateau_patience: int | None = None

    def __post_init__(self) -> None:
        _check_device(self.device, self.precision)
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise W2VMOSError("batch_size, max_epochs and patience must be >= 1")
        if self.loss not in ("l1", "l2"):
            raise W2VMOSError(f"loss must be 'l1' or 'l2', not {self.loss!r}")
        if self.lr_plateau_patience is not None and self.lr_plateau_patience < 1:
            raise W2VMOSError("lr_plateau_patience must be >= 1 (or None)")
        if self.sample_rate != 16000:
            raise W2VMOSError("wav2vec 2.0 expects 16 kHz input (sample_rate=16000)")


@dataclasses.dataclass(frozen=True)
class CVConfig(_JSONConfig):
    k: int = 3
    seed: int = 0
    #: Where the P.1401 third-order mapping is fitted: on each fold's test predictions, as
    #: P.1401 does for the evaluation of a test (default), or on its validation set.
    mapping_fit: Literal["test", "validation"] = "test"
    #: The paper's control: labels drawn once, seeded, from a Gaussian with the real
    #: labels' mean and std; the model is still evaluated against the real MOS.
    random_labels: bool = False

    def __post_init__(self) -> None:
        if self.mapping_fit not in ("test", "validation"):
            raise W2VMOSError(
                f"mapping_fit must be 'test' or 'validation', not {self.mapping_fit!r}"
            )


@dataclasses.dataclass(frozen=True)
class PretrainConfig(_JSONConfig):
    """Self-supervised pre-training (wav2vec 2.0 contrastive + diversity loss). Defaults
    follow fairseq's wav2vec 2.0 base recipe where the paper gives none."""

    window_seconds: float = 20.0
    hop_seconds: float = 10.0
    #: Files shorter than one window become one segment when at least this long.
    min_seconds: float = 2.0
    sample_rate: int = 16000
    batch_size: int = 4
    lr: float = 5e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    adam_eps: float = 1e-6
    weight_decay: float = 0.01
    warmup_steps: int = 32000
    max_steps: int = 400000
    max_gumbel_temperature: float = 2.0
    min_gumbel_temperature: float = 0.5
    gumbel_temperature_decay: float = 0.999995
    mask_time_prob: float = 0.65
    mask_time_length: int = 10
    save_every: int = 1000
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    num_workers: int = 0

    def __post_init__(self) -> None:
        _check_device(self.device, self.precision)
        if self.hop_seconds <= 0 or self.window_seconds <= 0:
            raise W2VMOSError("window_seconds and hop_seconds must be > 0")
        if self.sample_rate != 16000:
            raise W2VMOSError("wav2vec 2.0 expects 16 kHz input (sample_rate=16000)")


def train_config_for(name: str, **settings: Any) -> TrainConfig:
    """A TrainConfig with the model's defaults (`TRAIN_DEFAULTS`) under `settings`;
    settings given as None take the default."""
    if name not in TRAIN_DEFAULTS:
        raise W2VMOSError(f"model must be one of {', '.join(MODEL_NAMES)}, not {name!r}")
    given = {k: v for k, v in settings.items() if v is not None}
    return TrainConfig.from_dict({**TRAIN_DEFAULTS[name], **given})


def check_pairing(model: ModelConfig, train: TrainConfig) -> None:
    """The two NISQA runs are told apart by their loss: refuse a contradiction."""
    wanted = {"nisqa": "l2", "nisqa_l1": "l1"}.get(model.name)
    if wanted is not None and train.loss != wanted:
        raise W2VMOSError(
            f"{TABLE_NAMES[model.name]} trains with the {wanted.upper()} loss, not "
            f"{train.loss.upper()}; use {'nisqa_l1' if wanted == 'l2' else 'nisqa'} for that"
        )


def normalized(section: type[_JSONConfig], stored: Any) -> Any:
    """A stored config section with today's defaults filled in, so that a run folder
    written before a setting existed still matches its own configuration."""
    if not isinstance(stored, dict):
        return stored
    try:
        return section.from_dict(stored).to_dict()
    except (W2VMOSError, TypeError):
        return stored


C = TypeVar("C", bound=_JSONConfig)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (a killed run never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=True) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise W2VMOSError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise W2VMOSError(f"{path} does not hold a JSON object")
    return data


def load_config(cls: type[C], path: Path) -> C:
    """One config dataclass from a JSON file written with `to_dict`."""
    return cls.from_dict(read_json(path))
