"""Small checkpoints shaped as fairseq writes them (its key names, its `cfg` or `args`
layout, random weights), the paper's QAMA state dicts, and an independent forward pass of
fairseq's wav2vec 2.0 on those weights, written from fairseq's model definition
(`fairseq/models/wav2vec/wav2vec2.py`, eval mode) with torch.nn.functional only."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: 2 conv layers (20x down-sampling), 2 encoder layers, hidden 32.
SETTINGS: dict[str, Any] = {
    "_name": "wav2vec2",
    "extractor_mode": "default",
    "encoder_layers": 2,
    "encoder_embed_dim": 32,
    "encoder_ffn_embed_dim": 64,
    "encoder_attention_heads": 4,
    "activation_fn": "gelu",
    "layer_type": "transformer",
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "encoder_layerdrop": 0.05,
    "dropout_input": 0.1,
    "dropout_features": 0.1,
    "final_dim": 16,
    "layer_norm_first": False,
    "conv_feature_layers": "[(24, 10, 5)] + [(24, 8, 4)] * 1",
    "conv_bias": False,
    "logit_temp": 0.1,
    "quantize_targets": True,
    "quantize_input": False,
    "latent_vars": 8,
    "latent_groups": 2,
    "latent_dim": 0,
    "mask_length": 10,
    "mask_prob": 0.65,
    "mask_channel_prob": 0.0,
    "num_negatives": 10,
    "conv_pos": 8,
    "conv_pos_groups": 4,
    "pos_conv_depth": 1,
    "latent_temp": [2.0, 0.5, 0.999995],
    "required_seq_len_multiple": 2,
    "crop_seq_to_multiple": 1,
}
#: large-lv60 style: LayerNorm in every CNN layer with biases, pre-LN Transformer, and a
#: CNN as wide as the Transformer (so fairseq has no post_extract_proj).
LAYER_NORM_FIRST: dict[str, Any] = {
    **SETTINGS,
    "extractor_mode": "layer_norm",
    "layer_norm_first": True,
    "conv_bias": True,
    "conv_feature_layers": "[(32, 10, 5), (32, 8, 4)]",
    "conv_pos": 7,
}


def conv_spec(settings: dict[str, Any]) -> list[tuple[int, int, int]]:
    return list(eval(settings["conv_feature_layers"]))  # noqa: S307 (test data only)


def fairseq_state(settings: dict[str, Any], *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under fairseq's names for these settings, pre-training modules
    (quantizer, project_q, final_proj) included."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.3) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    def norm(name: str, dim: int) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": 1.0 + rand(dim, scale=0.1), f"{name}.bias": rand(dim, scale=0.1)}

    s = settings
    state: dict[str, torch.Tensor] = {}
    in_dim = 1
    for i, (dim, kernel, _) in enumerate(conv_spec(s)):
        state[f"feature_extractor.conv_layers.{i}.0.weight"] = rand(dim, in_dim, kernel, scale=0.5)
        if s["conv_bias"]:
            state[f"feature_extractor.conv_layers.{i}.0.bias"] = rand(dim, scale=0.1)
        if s["extractor_mode"] == "layer_norm":
            state.update(norm(f"feature_extractor.conv_layers.{i}.2.1", dim))
        elif i == 0:
            state.update(norm(f"feature_extractor.conv_layers.{i}.2", dim))
        in_dim = dim
    embed, d = in_dim, s["encoder_embed_dim"]
    state.update(norm("layer_norm", embed))
    if embed != d:
        state["post_extract_proj.weight"] = rand(d, embed)
        state["post_extract_proj.bias"] = rand(d, scale=0.1)
    state["mask_emb"] = torch.rand(d, generator=g)
    k, groups = s["conv_pos"], s["conv_pos_groups"]
    state["encoder.pos_conv.0.bias"] = rand(d, scale=0.1)
    state["encoder.pos_conv.0.weight_g"] = 1.0 + rand(1, 1, k, scale=0.2)
    state["encoder.pos_conv.0.weight_v"] = rand(d, d // groups, k)
    ffn = s["encoder_ffn_embed_dim"]
    for n in range(s["encoder_layers"]):
        p = f"encoder.layers.{n}."
        for proj in ("q", "k", "v", "out"):
            state[f"{p}self_attn.{proj}_proj.weight"] = rand(d, d)
            state[f"{p}self_attn.{proj}_proj.bias"] = rand(d, scale=0.1)
        state.update(norm(f"{p}self_attn_layer_norm", d))
        state[f"{p}fc1.weight"], state[f"{p}fc1.bias"] = rand(ffn, d), rand(ffn, scale=0.1)
        state[f"{p}fc2.weight"], state[f"{p}fc2.bias"] = rand(d, ffn), rand(d, scale=0.1)
        state.update(norm(f"{p}final_layer_norm", d))
    state.update(norm("encoder.layer_norm", d))
    final = s["final_dim"] or d
    groups_q, vars_q = s["latent_groups"], s["latent_vars"]
    state["quantizer.vars"] = rand(1, groups_q * vars_q, final // groups_q)
    state["quantizer.weight_proj.weight"] = rand(groups_q * vars_q, embed)
    state["quantizer.weight_proj.bias"] = rand(groups_q * vars_q)
    state["project_q.weight"], state["project_q.bias"] = rand(final, final), rand(final)
    state["final_proj.weight"], state["final_proj.bias"] = rand(final, d), rand(final)
    return state


def _trainer_extras() -> dict[str, Any]:
    """What else a fairseq checkpoint holds: optimizer history and state, numpy scalars."""
    return {
        "optimizer_history": [
            {
                "criterion_name": "Wav2vecCriterion",
                "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": np.float64(2.5)},
                "num_updates": 400000,
            }
        ],
        "extra_state": {
            "epoch": 57,
            "previous_best": np.float64(2.5),
            "metrics": {"train": [["loss", 0, {"val": np.float32(2.5), "count": np.int64(9)}]]},
        },
        "last_optimizer_state": {"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": []},
        "task_state": {},
    }


def save_cfg_checkpoint(
    path: Path, settings: dict[str, Any], state: dict[str, torch.Tensor], *, normalize: bool = False
) -> Path:
    """The newer layout: `cfg` a plain dict of sections, `model` the weights."""
    cfg = {
        "_name": None,
        "common": {"_name": None, "fp16": True, "seed": 1},
        "task": {"_name": "audio_pretraining", "normalize": normalize, "sample_rate": 16000},
        "model": dict(settings),
        "criterion": {"_name": "wav2vec", "infonce": True, "loss_weights": [0.1, 10.0]},
        "optimization": {"_name": None, "max_update": 400000, "lr": [0.0005]},
    }
    torch.save({"args": None, "cfg": cfg, "model": state, **_trainer_extras()}, path)
    return path


def save_args_checkpoint(
    path: Path, settings: dict[str, Any], state: dict[str, torch.Tensor], *, normalize: bool = False
) -> Path:
    """The older layout: `args` an argparse Namespace holding every setting flat."""
    flat = {k: v for k, v in settings.items() if k != "_name"}
    args = argparse.Namespace(
        arch="wav2vec2", task="audio_pretraining", criterion="wav2vec", normalize=normalize, **flat
    )
    torch.save({"args": args, "model": state, **_trainer_extras()}, path)
    return path


def qama_state(
    backbone: dict[str, torch.Tensor], hidden: int, *, seed: int
) -> dict[str, torch.Tensor]:
    """The QAMA module's state dict as the paper's qama_*.pt hold it: the fairseq model
    under `ssl_model.` with its pre-training modules removed, then QAMA's heads."""
    g = torch.Generator().manual_seed(seed)
    state = {
        f"ssl_model.{k}": v
        for k, v in backbone.items()
        if not k.startswith(("quantizer.", "project_q.", "final_proj."))
    }
    state["fc1.weight"], state["fc1.bias"] = torch.randn(256, 768, generator=g), torch.zeros(256)
    state["fc2.weight"], state["fc2.bias"] = torch.randn(128, 256, generator=g), torch.zeros(128)
    state["output_layer_arch1.weight"] = torch.randn(1, hidden, generator=g) * 0.3
    state["output_layer_arch1.bias"] = torch.tensor([3.0]) + torch.randn(1, generator=g) * 0.1
    state["output_layer_arch2.weight"] = torch.randn(1, 128, generator=g)
    state["output_layer_arch2.bias"] = torch.zeros(1)
    state["output_layer_class.weight"] = torch.randn(5, hidden, generator=g)
    state["output_layer_class.bias"] = torch.zeros(5)
    return state


# --- fairseq's forward pass, by hand ------------------------------------------------------


def _layer_norm(x: torch.Tensor, state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), state[f"{name}.weight"], state[f"{name}.bias"], eps=1e-5)


def _attention(
    x: torch.Tensor, state: dict[str, torch.Tensor], p: str, heads: int, pad: torch.Tensor
) -> torch.Tensor:
    """fairseq MultiheadAttention (self-attention, eval): q scaled by head_dim^-0.5,
    padded keys masked out. x: (T, B, C); pad: (B, T) True on padding."""
    t, b, c = x.shape
    head_dim = c // heads

    def proj(name: str) -> torch.Tensor:
        return F.linear(
            x, state[f"{p}self_attn.{name}_proj.weight"], state[f"{p}self_attn.{name}_proj.bias"]
        )

    q = proj("q") * head_dim**-0.5
    k, v = proj("k"), proj("v")
    q, k, v = (z.reshape(t, b * heads, head_dim).transpose(0, 1) for z in (q, k, v))
    scores = torch.bmm(q, k.transpose(1, 2)).view(b, heads, t, t)
    scores = scores.masked_fill(pad[:, None, None, :], float("-inf")).view(b * heads, t, t)
    out = torch.bmm(torch.softmax(scores, dim=-1), v)
    out = out.transpose(0, 1).reshape(t, b, c)
    return F.linear(
        out, state[f"{p}self_attn.out_proj.weight"], state[f"{p}self_attn.out_proj.bias"]
    )


def reference_last_layer(
    state: dict[str, torch.Tensor], settings: dict[str, Any], wav: torch.Tensor, *, prefix: str = ""
) -> torch.Tensor:
    """fairseq `Wav2Vec2Model(source, mask=False, features_only=True)["x"]` for an
    unpadded batch wav (B, samples): the last Transformer layer, (B, T, C)."""
    w = {k[len(prefix) :]: v.double() for k, v in state.items() if k.startswith(prefix)}
    s = settings
    act = F.gelu
    x = wav.double()[:, None]
    for i, (dim, _, stride) in enumerate(conv_spec(s)):
        x = F.conv1d(
            x, w[f"feature_extractor.conv_layers.{i}.0.weight"],
            w.get(f"feature_extractor.conv_layers.{i}.0.bias"), stride=stride,
        )  # fmt: skip
        if s["extractor_mode"] == "layer_norm":
            x = _layer_norm(x.transpose(1, 2), w, f"feature_extractor.conv_layers.{i}.2.1")
            x = x.transpose(1, 2)
        elif i == 0:
            x = F.group_norm(
                x, dim, w["feature_extractor.conv_layers.0.2.weight"],
                w["feature_extractor.conv_layers.0.2.bias"], eps=1e-5,
            )  # fmt: skip
        x = act(x)
    x = _layer_norm(x.transpose(1, 2), w, "layer_norm")
    if "post_extract_proj.weight" in w:
        x = F.linear(x, w["post_extract_proj.weight"], w["post_extract_proj.bias"])

    # TransformerEncoder.extract_features: weight-normed positional conv (norm over every
    # dim but 2), SamePad (drop the last step when the kernel is even), GELU.
    k, groups = s["conv_pos"], s["conv_pos_groups"]
    v, g = w["encoder.pos_conv.0.weight_v"], w["encoder.pos_conv.0.weight_g"]
    weight = g * v / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    conv = F.conv1d(
        x.transpose(1, 2), weight, w["encoder.pos_conv.0.bias"], padding=k // 2, groups=groups
    )
    if k % 2 == 0:
        conv = conv[..., :-1]
    x = x + act(conv).transpose(1, 2)
    if not s["layer_norm_first"]:
        x = _layer_norm(x, w, "encoder.layer_norm")
    # Padded to a multiple of required_seq_len_multiple, the padding masked as keys.
    frames = x.shape[1]
    multiple = s.get("required_seq_len_multiple", 1)
    extra = -frames % multiple
    x = F.pad(x, (0, 0, 0, extra))
    pad = torch.zeros(x.shape[:2], dtype=torch.bool)
    pad[:, frames:] = True
    x = x.transpose(0, 1)
    heads = s["encoder_attention_heads"]
    for n in range(s["encoder_layers"]):
        p = f"encoder.layers.{n}."

        def ffn(h: torch.Tensor, p: str = p) -> torch.Tensor:
            h = act(F.linear(h, w[f"{p}fc1.weight"], w[f"{p}fc1.bias"]))
            return F.linear(h, w[f"{p}fc2.weight"], w[f"{p}fc2.bias"])

        if s["layer_norm_first"]:
            x = x + _attention(_layer_norm(x, w, f"{p}self_attn_layer_norm"), w, p, heads, pad)
            x = x + ffn(_layer_norm(x, w, f"{p}final_layer_norm"))
        else:
            x = _layer_norm(x + _attention(x, w, p, heads, pad), w, f"{p}self_attn_layer_norm")
            x = _layer_norm(x + ffn(x), w, f"{p}final_layer_norm")
    x = x.transpose(0, 1)[:, :frames]
    if s["layer_norm_first"]:
        x = _layer_norm(x, w, "encoder.layer_norm")
    return x


def reference_mos(
    state: dict[str, torch.Tensor], settings: dict[str, Any], wav: torch.Tensor
) -> torch.Tensor:
    """QAMA arch1: the linear head on the mean over time of the last layer, (B,)."""
    last = reference_last_layer(state, settings, wav, prefix="ssl_model.")
    pooled = last.mean(dim=1)
    head = F.linear(
        pooled,
        state["output_layer_arch1.weight"].double(),
        state["output_layer_arch1.bias"].double(),
    )
    return head.squeeze(1)


def music_batch(n: int, seconds: float = 0.5, *, seed: int = 0) -> torch.Tensor:
    t = torch.arange(int(16000 * seconds)) / 16000
    g = torch.Generator().manual_seed(seed)
    f0 = 110 + 330 * torch.rand(n, 1, generator=g)
    tone = torch.sin(2 * math.pi * f0 * t) + 0.5 * torch.sin(2 * math.pi * 2 * f0 * t)
    return 0.2 * tone + 0.01 * torch.randn(n, t.numel(), generator=g)
