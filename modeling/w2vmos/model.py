"""The w2vMOS network (paper §3): a wav2vec 2.0 backbone (HF transformers
`Wav2Vec2Model`), the mean over time of its last Transformer layer, one linear layer
-> MOS.

Padding never changes a clip's score: the mean is taken over real frames only, the
Transformer gets the frame-level attention mask, and for backbones whose first CNN layer
uses GroupNorm over time (wav2vec2-base style, `feat_extract_norm="group"`) that norm's
statistics are computed over the real samples only. A clip scored alone or padded in a
batch gets the same MOS (up to float rounding).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from transformers import PreTrainedConfig, Wav2Vec2Config, Wav2Vec2Model
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2GroupNormConvLayer

from modeling import provenance
from modeling.w2vmos.config import ModelConfig
from modeling.w2vmos.data import WaveformFrontEnd
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.quality_model import QualityModel

_FORMAT = 1
_HEAD_FILE = "head.pt"
_META_FILE = "w2vmos.json"


def _masked_group_norm(x: torch.Tensor, valid: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """GroupNorm with one group per channel (wav2vec 2.0's first CNN layer), statistics
    over the valid time steps only. x: (B, C, T); valid: (B, 1, T) bool."""
    x32 = x.float()
    weight = valid.to(x32.dtype)
    count = weight.sum(-1, keepdim=True).clamp(min=1.0)
    mean = (x32 * weight).sum(-1, keepdim=True) / count
    var = (((x32 - mean) ** 2) * weight).sum(-1, keepdim=True) / count
    y = (x32 - mean) * torch.rsqrt(var + norm.eps)
    return y * norm.weight.float()[None, :, None] + norm.bias.float()[None, :, None]


class W2VMOS(QualityModel):
    """wav2vec 2.0 -> masked mean over time of the last layer -> Linear(hidden, 1)."""

    def __init__(self, backbone: Wav2Vec2Model, *, normalize_waveform: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.config.hidden_size, 1)
        self.normalize_waveform = normalize_waveform

    @property
    def min_samples(self) -> int:
        """Shortest input (in samples) that yields one frame (400 = 25 ms for base)."""
        length = 1
        cfg = self.backbone.config
        for kernel, stride in reversed(list(zip(cfg.conv_kernel, cfg.conv_stride))):
            length = (length - 1) * stride + kernel
        return int(length)

    def front_end(self) -> WaveformFrontEnd:
        return WaveformFrontEnd(self.min_samples)

    def _conv_lengths(self, lengths: torch.Tensor, layer: int) -> torch.Tensor:
        cfg = self.backbone.config
        for kernel, stride in list(zip(cfg.conv_kernel, cfg.conv_stride))[: layer + 1]:
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
        return lengths

    def _cnn_features(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        hidden = values[:, None]
        for i, layer in enumerate(self.backbone.feature_extractor.conv_layers):
            if isinstance(layer, Wav2Vec2GroupNormConvLayer) and lengths is not None:
                hidden = layer.conv(hidden)
                steps = torch.arange(hidden.shape[-1], device=hidden.device)
                valid = (steps[None, :] < self._conv_lengths(lengths, i)[:, None])[:, None, :]
                hidden = layer.activation(_masked_group_norm(hidden, valid, layer.layer_norm))
            else:
                hidden = layer(hidden)
        return hidden.transpose(1, 2)

    def frame_features(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Last-layer frames (B, F, H) and their validity mask (B, F)."""
        backbone = self.backbone
        lengths = None if attention_mask is None else attention_mask.sum(-1)
        if self.normalize_waveform:
            input_values = normalized_waveform(input_values, attention_mask)
        features = self._cnn_features(input_values, lengths)
        if attention_mask is None:
            frame_mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
        else:
            frame_mask = backbone._get_feature_vector_attention_mask(
                features.shape[1], cast(torch.LongTensor, attention_mask), add_adapter=False
            )
        hidden, _ = backbone.feature_projection(features)
        hidden = backbone.encoder(hidden, attention_mask=frame_mask).last_hidden_state
        if backbone.adapter is not None:
            hidden = backbone.adapter(hidden)
            if attention_mask is None:
                frame_mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
            else:
                frame_mask = backbone._get_feature_vector_attention_mask(
                    hidden.shape[1], cast(torch.LongTensor, attention_mask), add_adapter=True
                )
        return hidden, frame_mask

    def forward(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predicted MOS, shape (B,). input_values: (B, T) 16 kHz mono, zero-padded;
        attention_mask: (B, T) 1 on real samples (None: no padding)."""
        hidden, frame_mask = self.frame_features(input_values, attention_mask)
        weight = frame_mask.to(torch.float32)[..., None]
        pooled = (hidden.float() * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        scores: torch.Tensor = self.head(pooled.to(self.head.weight.dtype)).squeeze(-1).float()
        return scores

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.backbone.parameters() if p.requires_grad]

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())


def normalized_waveform(values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Zero mean, unit variance per clip over its real samples (HF's `do_normalize`)."""
    weight = torch.ones_like(values) if attention_mask is None else attention_mask.to(values.dtype)
    count = weight.sum(-1, keepdim=True).clamp(min=1.0)
    mean = (values * weight).sum(-1, keepdim=True) / count
    var = (((values - mean) ** 2) * weight).sum(-1, keepdim=True) / count
    return (values - mean) / torch.sqrt(var + 1e-7) * weight


# ---------------------------------------------------------------------------------------
# Building, saving, loading
# ---------------------------------------------------------------------------------------


def checkpoint_model_type(source: str) -> str:
    """The `model_type` of an HF checkpoint's config (local directory or hub id), read
    without loading weights."""
    try:
        config_dict, _ = PreTrainedConfig.get_config_dict(source)
    except Exception as exc:
        raise W2VMOSError(f"cannot read a model config from {source!r}: {exc}") from exc
    return str(config_dict.get("model_type", ""))


def _load_backbone(source: str) -> Wav2Vec2Model:
    model_type = checkpoint_model_type(source)
    if model_type != "wav2vec2":
        raise W2VMOSError(
            f"{source!r} is a {model_type or 'untyped'!r} checkpoint, not a wav2vec 2.0 one "
            "(config model_type must be 'wav2vec2')"
        )
    try:
        # transformers 5 loads in the checkpoint's own dtype by default ("auto"); weights
        # are trained and kept in fp32, autocast does the mixed precision.
        backbone = Wav2Vec2Model.from_pretrained(source, dtype=torch.float32)
    except Exception as exc:
        raise W2VMOSError(f"cannot load wav2vec 2.0 weights from {source!r}: {exc}") from exc
    return backbone


def build_model(config: ModelConfig) -> W2VMOS:
    """A fresh W2VMOS: backbone from an HF-format checkpoint (any wav2vec 2.0 checkpoint,
    e.g. from `pretrain`, a local fine-tuned one, or a hub id), or randomly initialised
    from `config.tiny_config`; the head is new. Random initialisation draws from torch's
    global RNG, so seed first."""
    if config.tiny_config is not None:
        try:
            backbone = Wav2Vec2Model(Wav2Vec2Config(**config.tiny_config))
        except (TypeError, ValueError) as exc:
            raise W2VMOSError(f"invalid tiny_config: {exc}") from exc
    else:
        assert config.backbone is not None
        backbone = _load_backbone(config.backbone)
    # Fine-tuning sees the whole clip, as the reference implementation does (mask=False):
    # no SpecAugment-style time masking inside the backbone.
    backbone.config.apply_spec_augment = False
    if config.freeze_feature_encoder:
        backbone.freeze_feature_encoder()  # type: ignore[no-untyped-call]
    return W2VMOS(backbone, normalize_waveform=config.normalize_waveform)


def save_model(model: W2VMOS, directory: Path | str) -> Path:
    """`directory/backbone` (HF format), `directory/head.pt` and `directory/w2vmos.json`."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.backbone.save_pretrained(out / "backbone")
    torch.save({k: v.detach().cpu() for k, v in model.head.state_dict().items()}, out / _HEAD_FILE)
    meta: dict[str, Any] = {
        "format": _FORMAT,
        "hidden_size": model.backbone.config.hidden_size,
        "normalize_waveform": model.normalize_waveform,
        "code_version": provenance.code_version(),
    }
    (out / _META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def load_model(directory: Path | str) -> W2VMOS:
    """A W2VMOS saved by `save_model`, in eval mode on the CPU."""
    root = Path(directory)
    meta_path = root / _META_FILE
    if not meta_path.is_file():
        raise W2VMOSError(f"{root} is not a saved w2vMOS model (no {_META_FILE})")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != _FORMAT:
        raise W2VMOSError(f"{root}: unsupported w2vMOS format {meta.get('format')!r}")
    backbone = _load_backbone(str(root / "backbone"))
    backbone.config.apply_spec_augment = False
    model = W2VMOS(backbone, normalize_waveform=bool(meta.get("normalize_waveform", False)))
    state = torch.load(root / _HEAD_FILE, map_location="cpu", weights_only=True)
    model.head.load_state_dict(state)
    return model.eval()
