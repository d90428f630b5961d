"""fairseq wav2vec 2.0 checkpoints as HF-format w2vMOS backbones and models, without fairseq.

The paper's repository publishes `checkpoint_best.pt` (wav2vec 2.0 pre-trained on music, a
fairseq checkpoint: the model's settings under `cfg` (newer fairseq, a plain dict) or
`args` (older fairseq, an argparse Namespace), its weights under `model`) and
`qama_fold1..3.pt`, `qama_full.pt`: the fine-tuned w2vMOS ("QAMA"), saved as a bare state
dict of its `QAMA` module (`mos_predictors.py`): the fairseq model under `ssl_model.`
(pre-training modules removed) and the linear head on the mean over time of the last
layer as `output_layer_arch1`. QAMA's alternative heads (`fc1`, `fc2`,
`output_layer_arch2`, `output_layer_class`) are in every such file but unused by the
published models (architecture "arch1", the paper's), so they are left out. A bare state
dict holds no settings: they come from the pre-trained checkpoint it was fine-tuned from
(`config_from`).

Accepted head names (a Linear(hidden, 1): weight (1, hidden), bias (1,)), at the top level
of the state dict: `HEAD_NAMES`.

Keys map one to one (fairseq -> transformers `Wav2Vec2Model`):
feature_extractor.conv_layers.N.0 -> feature_extractor.conv_layers.N.conv; the norm
(.2 GroupNorm of the first layer in "default" mode, .2.1 LayerNorm of every layer in
"layer_norm" mode) -> .layer_norm; layer_norm -> feature_projection.layer_norm;
post_extract_proj -> feature_projection.projection (absent when the CNN's width is the
Transformer's: then an identity); mask_emb -> masked_spec_embed; encoder.pos_conv.0
(weight norm over dim 2: weight_g, weight_v) -> encoder.pos_conv_embed.conv;
encoder.layers.N.{self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2,
final_layer_norm} -> encoder.layers.N.{attention.*_proj, layer_norm,
feed_forward.intermediate_dense, feed_forward.output_dense, final_layer_norm};
encoder.layer_norm -> encoder.layer_norm. The pre-training modules (quantizer, project_q,
final_proj, target_glu) are dropped: fine-tuning and scoring never use them.

Checkpoints are read with `torch.load(weights_only=True)`, allowing only the Namespace
and numpy scalars fairseq pickles besides tensors; anything else is refused unless the
caller trusts the file (`trust_pickle`, which may run code from it).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.model import W2VMOS

#: Names a linear MOS head may have in a fine-tuned checkpoint: QAMA's first, then ours.
HEAD_NAMES = ("output_layer_arch1", "head", "output_layer", "mos_head")
#: QAMA's alternative heads, present in its state dicts, unused by the published models.
QAMA_UNUSED = ("fc1.", "fc2.", "output_layer_arch2.", "output_layer_class.")
#: Pre-training-only modules of fairseq's Wav2Vec2Model.
PRETRAINING_ONLY = ("quantizer.", "project_q.", "final_proj.", "target_glu.")
_ANCHOR = "feature_extractor.conv_layers.0.0.weight"

#: fairseq activation name -> transformers ACT2FN name.
_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_accurate": "gelu_new",
    "gelu_fast": "gelu_new",
    "relu": "relu",
    "tanh": "tanh",
    "swish": "swish",
    "linear": "linear",
}

_EXTRACTOR_MODES = ("default", "layer_norm")
#: fairseq Wav2Vec2Config defaults for settings an older checkpoint's `args` may lack.
_FAIRSEQ_DEFAULTS: dict[str, Any] = {
    "extractor_mode": "default",
    "encoder_layers": 12,
    "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12,
    "activation_fn": "gelu",
    "layer_type": "transformer",
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "encoder_layerdrop": 0.0,
    "dropout_input": 0.0,
    "final_dim": 0,
    "layer_norm_first": False,
    "conv_feature_layers": "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
    "conv_bias": False,
    "quantize_input": False,
    "latent_vars": 320,
    "latent_groups": 2,
    "latent_dim": 0,
    "logit_temp": 0.1,
    "num_negatives": 100,
    "mask_length": 10,
    "mask_prob": 0.65,
    "mask_channel_length": 10,
    "mask_channel_prob": 0.0,
    "conv_pos": 128,
    "conv_pos_groups": 16,
    "pos_conv_depth": 1,
    "conv_pos_batch_norm": False,
    "crop_seq_to_multiple": 1,
}

_CONV = r"feature_extractor\.conv_layers\.(\d+)\."
_LAYER = r"encoder\.layers\.(\d+)\."
_POS = r"encoder\.pos_conv\.0\."
_WB = r"(weight|bias)"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern), replacement)
    for pattern, replacement in [
        (_CONV + r"0\." + _WB, r"feature_extractor.conv_layers.\1.conv.\2"),
        (_CONV + r"2(?:\.1)?\." + _WB, r"feature_extractor.conv_layers.\1.layer_norm.\2"),
        (r"layer_norm\." + _WB, r"feature_projection.layer_norm.\1"),
        (r"post_extract_proj\." + _WB, r"feature_projection.projection.\1"),
        (r"mask_emb", "masked_spec_embed"),
        (_POS + "bias", "encoder.pos_conv_embed.conv.bias"),
        (_POS + r"(?:weight_g|parametrizations\.weight\.original0)", "<pos_g>"),
        (_POS + r"(?:weight_v|parametrizations\.weight\.original1)", "<pos_v>"),
        (
            _LAYER + r"self_attn\.(q|k|v|out)_proj\." + _WB,
            r"encoder.layers.\1.attention.\2_proj.\3",
        ),
        (_LAYER + r"self_attn_layer_norm\." + _WB, r"encoder.layers.\1.layer_norm.\2"),
        (_LAYER + r"fc1\." + _WB, r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
        (_LAYER + r"fc2\." + _WB, r"encoder.layers.\1.feed_forward.output_dense.\2"),
        (_LAYER + r"final_layer_norm\." + _WB, r"encoder.layers.\1.final_layer_norm.\2"),
        (r"encoder\.layer_norm\." + _WB, r"encoder.layer_norm.\1"),
    ]
]


@dataclass(frozen=True)
class FairseqCheckpoint:
    """What a file holds: its weights, and the fairseq model settings when it has them."""

    path: Path
    state: dict[str, torch.Tensor]
    #: fairseq Wav2Vec2Config fields (`cfg["model"]` or `vars(args)`); None: a bare state dict
    settings: dict[str, Any] | None
    #: the task's `normalize` (zero-mean unit-variance waveforms); None when unknown
    normalize: bool | None
    sha256: str


@dataclass
class ConvertedModel:
    """A fairseq wav2vec 2.0 in transformers' layout, with its MOS head when it had one."""

    backbone: Wav2Vec2Model
    head: tuple[torch.Tensor, torch.Tensor] | None
    normalize_waveform: bool
    source: dict[str, Any] = field(default_factory=dict)

    def to_w2vmos(self) -> W2VMOS:
        """The fine-tuned model (an error when the checkpoint had no head)."""
        if self.head is None:
            raise W2VMOSError(
                f"{self.source.get('file', 'the checkpoint')} has no MOS head: it is a "
                "pre-trained wav2vec 2.0, a backbone to fine-tune"
            )
        self.backbone.config.apply_spec_augment = False
        model = W2VMOS(self.backbone, normalize_waveform=self.normalize_waveform)
        weight, bias = self.head
        model.head.load_state_dict({"weight": weight.float(), "bias": bias.float()})
        return model.eval()


# --- Reading --------------------------------------------------------------------------


def _safe_globals() -> list[Any]:
    from numpy._core.multiarray import scalar

    dtypes = [getattr(np.dtypes, name) for name in np.dtypes.__all__]
    # numpy 1.x pickles its scalars as numpy.core.multiarray.scalar, numpy 2 as numpy._core.
    return [argparse.Namespace, np.dtype, scalar, (scalar, "numpy.core.multiarray.scalar"), *dtypes]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(path: Path, trust_pickle: bool) -> Any:
    if path.is_dir():
        raise W2VMOSError(f"{path} is a folder: give the checkpoint file (e.g. checkpoint_best.pt)")
    if not path.is_file():
        raise W2VMOSError(f"{path}: no such file")
    try:
        if trust_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        # torch names the object both when it is unknown ("Unsupported global: GLOBAL
        # x.y") and when its module is blocked ("unsupported GLOBAL posix.system whose
        # module posix is blocked").
        found = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", text, re.IGNORECASE)
        if found:
            raise W2VMOSError(
                f"{path} holds {found.group(1)}, which a safe load refuses: unpickling it "
                "could run code. If the file comes from a source you trust, import it again "
                "trusting its pickled objects (import_checkpoint --trust-pickle)"
            ) from exc
        raise W2VMOSError(
            f"{path} can't be read as a PyTorch checkpoint (damaged, or another kind of "
            f"file): {exc.__class__.__name__}: {text[:200]}"
        ) from exc


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def _settings(data: Mapping[str, Any], path: Path) -> tuple[dict[str, Any] | None, bool | None]:
    """The model settings and task normalisation of a fairseq checkpoint, its model
    checked to be wav2vec 2.0."""
    cfg, args = data.get("cfg"), data.get("args")
    if cfg is not None:
        if not isinstance(cfg, Mapping) or not isinstance(cfg.get("model"), Mapping):
            raise W2VMOSError(f"{path}: its `cfg` has no `model` settings")
        model = dict(cfg["model"])
        name = str(model.get("_name") or "")
        task = cfg.get("task") or {}
        normalize = task.get("normalize") if isinstance(task, Mapping) else None
    elif args is not None:
        model = dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)
        name = str(model.get("arch") or model.get("_name") or "")
        normalize = model.get("normalize")
    else:
        return None, None
    if name.startswith("wav2vec_") or name in ("wav2vec_ctc", "wav2vec_seq2seq"):
        raise W2VMOSError(
            f"{path} is a wav2vec 2.0 fine-tuned for speech recognition ({name!r}), not a "
            "pre-trained or MOS model; import the pre-trained checkpoint it started from"
        )
    if name != "wav2vec2":
        raise W2VMOSError(
            f"{path} is a fairseq {name or 'untyped'!r} checkpoint, not a wav2vec 2.0 one "
            "(its model must be 'wav2vec2')"
        )
    return model, None if normalize is None else bool(normalize)


def read_checkpoint(path: Path | str, *, trust_pickle: bool = False) -> FairseqCheckpoint:
    """A fairseq checkpoint (`cfg` or `args` + `model`) or a bare state dict."""
    file = Path(path).expanduser()
    data = _load(file, trust_pickle)
    if not isinstance(data, Mapping):
        raise W2VMOSError(f"{file} is not a checkpoint: it holds a {type(data).__name__}")
    if "model" in data and _is_state_dict(data["model"]):
        state = dict(data["model"])
        settings, normalize = _settings(data, file)
    elif _is_state_dict(data):
        state, settings, normalize = dict(data), None, None
    else:
        raise W2VMOSError(
            f"{file} is neither a fairseq checkpoint (no `model` weights) nor a state dict"
        )
    if not any(k.endswith(_ANCHOR) for k in state):
        raise W2VMOSError(
            f"{file} holds no wav2vec 2.0 weights (no {_ANCHOR}): another architecture"
        )
    return FairseqCheckpoint(file, state, settings, normalize, _sha256(file))


# --- Settings -------------------------------------------------------------------------


def conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """fairseq's `conv_feature_layers`, a Python expression such as
    "[(512, 10, 5)] + [(512, 3, 2)] * 4", evaluated without `eval`: lists of int
    triples, `+` and `* int` only."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            items = [value(n) for n in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(ast.dump(node))

    try:
        layers = value(ast.parse(spec, mode="eval").body)
        if not isinstance(layers, list) or not layers:
            raise ValueError("not a list")
        out = [(int(d), int(k), int(s)) for d, k, s in layers]
    except (SyntaxError, ValueError, TypeError) as exc:
        raise W2VMOSError(
            f"conv_feature_layers {spec!r} is not a list of (dim, kernel, stride)"
        ) from exc
    return out


def hf_config(settings: Mapping[str, Any]) -> Wav2Vec2Config:
    """transformers' Wav2Vec2Config for fairseq wav2vec 2.0 settings; settings transformers'
    wav2vec 2.0 can't reproduce are refused."""
    s = {**_FAIRSEQ_DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}
    refusals = [
        (s["layer_type"] != "transformer", f"layer_type {s['layer_type']!r}"),
        (int(s["pos_conv_depth"]) > 1, f"pos_conv_depth {s['pos_conv_depth']}"),
        (bool(s["conv_pos_batch_norm"]), "conv_pos_batch_norm"),
        (bool(s["quantize_input"]), "quantize_input"),
        (int(s["crop_seq_to_multiple"]) > 1, f"crop_seq_to_multiple {s['crop_seq_to_multiple']}"),
        (
            s["extractor_mode"] not in ("default", "layer_norm"),
            f"extractor_mode {s['extractor_mode']!r}",
        ),
        (s["activation_fn"] not in _ACTIVATIONS, f"activation_fn {s['activation_fn']!r}"),
    ]
    unsupported = [what for refused, what in refusals if refused]
    if unsupported:
        raise W2VMOSError(
            "this wav2vec 2.0 variant has settings transformers' Wav2Vec2Model does not "
            f"implement: {', '.join(unsupported)}"
        )
    layers = conv_layers(str(s["conv_feature_layers"]))
    embed = int(s["encoder_embed_dim"])
    final_dim = int(s["final_dim"]) or embed
    try:
        return Wav2Vec2Config(
            hidden_size=embed,
            num_hidden_layers=int(s["encoder_layers"]),
            num_attention_heads=int(s["encoder_attention_heads"]),
            intermediate_size=int(s["encoder_ffn_embed_dim"]),
            hidden_act=_ACTIVATIONS[s["activation_fn"]],
            hidden_dropout=float(s["dropout"]),
            attention_dropout=float(s["attention_dropout"]),
            activation_dropout=float(s["activation_dropout"]),
            feat_proj_dropout=float(s["dropout_input"]),
            layerdrop=float(s["encoder_layerdrop"]),
            feat_extract_norm="group" if s["extractor_mode"] == "default" else "layer",
            feat_extract_activation="gelu",
            conv_dim=[d for d, _, _ in layers],
            conv_kernel=[k for _, k, _ in layers],
            conv_stride=[st for _, _, st in layers],
            conv_bias=bool(s["conv_bias"]),
            num_conv_pos_embeddings=int(s["conv_pos"]),
            num_conv_pos_embedding_groups=int(s["conv_pos_groups"]),
            do_stable_layer_norm=bool(s["layer_norm_first"]),
            layer_norm_eps=1e-5,  # fairseq's LayerNorm and GroupNorm
            mask_time_prob=float(s["mask_prob"]),
            mask_time_length=int(s["mask_length"]),
            mask_feature_prob=float(s["mask_channel_prob"]),
            mask_feature_length=int(s["mask_channel_length"]),
            num_codevectors_per_group=int(s["latent_vars"]),
            num_codevector_groups=int(s["latent_groups"]),
            codevector_dim=int(s["latent_dim"]) or final_dim,
            proj_codevector_dim=final_dim,
            num_negatives=int(s["num_negatives"]),
            contrastive_logits_temperature=float(s["logit_temp"]),
        )
    except (TypeError, ValueError) as exc:
        raise W2VMOSError(f"the checkpoint's wav2vec 2.0 settings are inconsistent: {exc}") from exc


# --- Converting -----------------------------------------------------------------------


def hf_key(fairseq_key: str) -> str | None:
    """transformers' name for a fairseq wav2vec 2.0 weight (None: not a backbone weight);
    the positional convolution's weight-norm halves come back as <pos_g> and <pos_v>."""
    for pattern, replacement in _RULES:
        if pattern.fullmatch(fairseq_key):
            return pattern.sub(replacement, fairseq_key)
    return None


def _backbone_prefix(state: Mapping[str, torch.Tensor]) -> str:
    return next(k[: -len(_ANCHOR)] for k in state if k.endswith(_ANCHOR))


def _split(state: Mapping[str, torch.Tensor], prefix: str, path: Path) -> tuple[
    dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None, list[str]
]:  # fmt: skip
    """The backbone's weights (prefix removed), the head's, and the keys left out."""
    heads = [n for n in HEAD_NAMES if f"{n}.weight" in state]
    if len(heads) > 1:
        raise W2VMOSError(f"{path} has several MOS heads ({', '.join(heads)}): which one is meant?")
    head = None
    if heads:
        name = heads[0]
        if f"{name}.bias" not in state:
            raise W2VMOSError(f"{path}: its head {name} has a weight but no bias")
        head = (state[f"{name}.weight"], state[f"{name}.bias"])
    backbone, dropped, unknown = {}, [], []
    for key, tensor in state.items():
        if heads and key in (f"{heads[0]}.weight", f"{heads[0]}.bias"):
            continue
        if key.startswith(QAMA_UNUSED):
            dropped.append(key)
        elif key.startswith(prefix):
            inner = key[len(prefix) :]
            if inner.startswith(PRETRAINING_ONLY):
                dropped.append(key)
            else:
                backbone[inner] = tensor
        else:
            unknown.append(key)
    _refuse_unknown(path, unknown)
    return backbone, head, dropped


def _refuse_unknown(path: Path, unknown: list[str]) -> None:
    if unknown:
        raise W2VMOSError(
            f"{path} holds weights that are neither wav2vec 2.0's nor a MOS head "
            f"(accepted head names: {', '.join(HEAD_NAMES)}): {', '.join(sorted(unknown)[:8])}"
        )


def convert(
    checkpoint: FairseqCheckpoint, *, config_from: FairseqCheckpoint | None = None
) -> ConvertedModel:
    """The checkpoint's wav2vec 2.0 as a transformers `Wav2Vec2Model` (every weight
    placed, shapes checked) and its linear MOS head, if any. A bare state dict takes its
    settings from `config_from` (the pre-trained fairseq checkpoint it started from)."""
    path = checkpoint.path
    settings, normalize = checkpoint.settings, checkpoint.normalize
    if settings is None:
        if config_from is None or config_from.settings is None:
            raise W2VMOSError(
                f"{path} is a bare state dict with no model settings (as the paper's "
                "qama_*.pt are): give the fairseq checkpoint it was fine-tuned from "
                "(e.g. checkpoint_best.pt) for its settings"
            )
        settings, normalize = config_from.settings, config_from.normalize
    config = hf_config(settings)
    prefix = _backbone_prefix(checkpoint.state)
    weights, head, dropped = _split(checkpoint.state, prefix, path)

    backbone = Wav2Vec2Model(config)
    expected = backbone.state_dict()
    pos = "encoder.pos_conv_embed.conv."
    parametrized = f"{pos}parametrizations.weight.original0" in expected
    pos_names = {
        "<pos_g>": f"{pos}parametrizations.weight.original0" if parametrized else f"{pos}weight_g",
        "<pos_v>": f"{pos}parametrizations.weight.original1" if parametrized else f"{pos}weight_v",
    }
    placed: dict[str, torch.Tensor] = {}
    unknown, mismatched = [], []
    for key, tensor in weights.items():
        target = hf_key(key)
        target = pos_names.get(target or "", target)
        if target is None:
            unknown.append(prefix + key)
        elif target not in expected:
            dropped.append(prefix + key)  # mask_emb of a config that never masks
        elif tensor.shape != expected[target].shape:
            mismatched.append(
                f"{prefix + key} {tuple(tensor.shape)} (expected {tuple(expected[target].shape)})"
            )
        else:
            placed[target] = tensor.float()
    projection = "feature_projection.projection."
    if f"{projection}weight" not in placed and config.conv_dim[-1] == config.hidden_size:
        # No post_extract_proj in fairseq when the CNN is as wide as the Transformer.
        placed[f"{projection}weight"] = torch.eye(config.hidden_size)
        placed[f"{projection}bias"] = torch.zeros(config.hidden_size)
    _refuse_unknown(path, unknown)
    if mismatched:
        raise W2VMOSError(f"{path} does not match its model settings: {'; '.join(mismatched[:5])}")
    missing = sorted(set(expected) - set(placed))
    if missing:
        raise W2VMOSError(
            f"{path} lacks wav2vec 2.0 weights ({len(missing)}), e.g. {', '.join(missing[:5])}: "
            "not a complete wav2vec 2.0 checkpoint"
        )
    backbone.load_state_dict(placed, strict=True)
    backbone.eval()  # type: ignore[no-untyped-call]
    if head is not None:
        weight, bias = head
        if tuple(weight.shape) != (1, config.hidden_size) or tuple(bias.shape) != (1,):
            raise W2VMOSError(
                f"{path}: its head weight is {tuple(weight.shape)}, not a linear layer to one "
                f"MOS (expected (1, {config.hidden_size}))"
            )
    source = {
        "file": path.name,
        "sha256": checkpoint.sha256,
        "settings_from": path.name if checkpoint.settings is not None else config_from.path.name,  # type: ignore[union-attr]
        "backbone_prefix": prefix,
        "has_head": head is not None,
        "dropped": sorted(dropped),
    }
    return ConvertedModel(backbone, head, bool(normalize), source)
