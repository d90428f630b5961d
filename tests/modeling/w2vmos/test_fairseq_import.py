from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.fairseq_import import (
    ConvertedModel,
    conv_layers,
    convert,
    hf_key,
    read_checkpoint,
)
from tests.modeling.w2vmos.fairseq_shapes import (
    LAYER_NORM_FIRST,
    SETTINGS,
    fairseq_state,
    music_batch,
    qama_state,
    reference_last_layer,
    reference_mos,
    save_args_checkpoint,
    save_cfg_checkpoint,
)

SAVERS = {"cfg": save_cfg_checkpoint, "args": save_args_checkpoint}


def last_layer(converted: ConvertedModel, wav: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        hidden: torch.Tensor = converted.backbone(wav).last_hidden_state
    return hidden


@pytest.mark.parametrize("layout", ["cfg", "args"])
@pytest.mark.parametrize("settings", [SETTINGS, LAYER_NORM_FIRST], ids=["base", "lnfirst"])
def test_pretrained_checkpoint_gives_fairseqs_last_layer(
    tmp_path: Path, layout: str, settings: dict[str, Any]
) -> None:
    state = fairseq_state(settings, seed=1)
    path = SAVERS[layout](tmp_path / "checkpoint_best.pt", settings, state)
    converted = convert(read_checkpoint(path))
    wav = music_batch(2, 0.5)
    expected = reference_last_layer(state, settings, wav)
    got = last_layer(converted, wav)
    assert got.shape == expected.shape == (2, 398, 32)
    torch.testing.assert_close(got.double(), expected, atol=2e-5, rtol=1e-4)
    assert converted.head is None
    assert converted.source["dropped"] == sorted(
        k for k in state if k.startswith(("quantizer.", "project_q.", "final_proj."))
    )


def test_settings_are_carried_over(tmp_path: Path) -> None:
    path = save_args_checkpoint(
        tmp_path / "c.pt", LAYER_NORM_FIRST, fairseq_state(LAYER_NORM_FIRST)
    )
    config = convert(read_checkpoint(path)).backbone.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 2, 4)
    assert config.intermediate_size == 64
    assert (config.conv_dim, config.conv_kernel, config.conv_stride) == ([32, 32], [10, 8], [5, 4])
    assert config.feat_extract_norm == "layer" and config.do_stable_layer_norm and config.conv_bias
    assert (config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (7, 4)


def test_every_weight_lands_where_it_should(tmp_path: Path) -> None:
    state = fairseq_state(SETTINGS, seed=2)
    backbone = convert(
        read_checkpoint(save_cfg_checkpoint(tmp_path / "c.pt", SETTINGS, state))
    ).backbone
    placed = backbone.state_dict()
    for key, tensor in state.items():
        target = hf_key(key)
        if target is None or target.startswith("<"):
            continue
        assert torch.equal(placed[target], tensor), key
    conv = backbone.encoder.pos_conv_embed.conv
    v, g = state["encoder.pos_conv.0.weight_v"], state["encoder.pos_conv.0.weight_g"]
    torch.testing.assert_close(conv.weight, g * v / v.norm(dim=(0, 1), keepdim=True))
    torch.testing.assert_close(backbone.masked_spec_embed.data, state["mask_emb"])


def test_no_post_extract_proj_is_an_identity(tmp_path: Path) -> None:
    state = fairseq_state(LAYER_NORM_FIRST)
    assert "post_extract_proj.weight" not in state
    path = save_cfg_checkpoint(tmp_path / "c.pt", LAYER_NORM_FIRST, state)
    projection = convert(read_checkpoint(path)).backbone.feature_projection.projection
    assert torch.equal(projection.weight, torch.eye(32))
    assert torch.equal(projection.bias, torch.zeros(32))


@pytest.mark.parametrize("layout", ["cfg", "args"])
def test_qama_state_dict_with_the_pretrained_settings_scores_as_qama(
    tmp_path: Path, layout: str
) -> None:
    pretrained = fairseq_state(SETTINGS, seed=3)
    config_path = SAVERS[layout](tmp_path / "checkpoint_best.pt", SETTINGS, pretrained)
    fine_tuned = qama_state(fairseq_state(SETTINGS, seed=4), 32, seed=5)
    torch.save(fine_tuned, tmp_path / "qama_fold1.pt")
    converted = convert(
        read_checkpoint(tmp_path / "qama_fold1.pt"), config_from=read_checkpoint(config_path)
    )
    assert converted.source["backbone_prefix"] == "ssl_model."
    assert converted.source["settings_from"] == "checkpoint_best.pt"
    model = converted.to_w2vmos()
    wav = music_batch(3, 0.4, seed=7)
    with torch.no_grad():
        got = model(wav)
    torch.testing.assert_close(
        got.double(), reference_mos(fine_tuned, SETTINGS, wav), atol=2e-5, rtol=1e-5
    )
    # The head is mean over time of the last layer, then Linear(hidden, 1):
    with torch.no_grad():
        by_hand = (
            converted.backbone(wav).last_hidden_state.mean(1)
            @ fine_tuned["output_layer_arch1.weight"].T
            + fine_tuned["output_layer_arch1.bias"]
        )
    torch.testing.assert_close(got, by_hand.squeeze(1))


def test_fairseq_checkpoint_with_a_head(tmp_path: Path) -> None:
    state = fairseq_state(SETTINGS, seed=6)
    state["head.weight"], state["head.bias"] = torch.randn(1, 32), torch.tensor([2.5])
    path = save_cfg_checkpoint(tmp_path / "w2vmos.pt", SETTINGS, state, normalize=True)
    converted = convert(read_checkpoint(path))
    assert converted.normalize_waveform
    model = converted.to_w2vmos()
    assert model.normalize_waveform
    assert torch.equal(model.head.weight.data, state["head.weight"])


def test_pretrained_has_no_mos_model(tmp_path: Path) -> None:
    path = save_cfg_checkpoint(tmp_path / "c.pt", SETTINGS, fairseq_state(SETTINGS))
    with pytest.raises(W2VMOSError, match="no MOS head"):
        convert(read_checkpoint(path)).to_w2vmos()


# --- Refusals -------------------------------------------------------------------------


def test_bare_state_dict_needs_the_pretrained_settings(tmp_path: Path) -> None:
    torch.save(qama_state(fairseq_state(SETTINGS), 32, seed=0), tmp_path / "qama_full.pt")
    with pytest.raises(W2VMOSError, match=r"bare state dict.*checkpoint_best.pt"):
        convert(read_checkpoint(tmp_path / "qama_full.pt"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("hubert", "fairseq 'hubert' checkpoint, not a wav2vec 2.0"),
        ("data2vec_audio", "'data2vec_audio'"),
        ("wav2vec_ctc", "fine-tuned for speech recognition"),
    ],
)
def test_other_fairseq_models_are_refused(tmp_path: Path, name: str, message: str) -> None:
    path = save_cfg_checkpoint(
        tmp_path / "c.pt", {**SETTINGS, "_name": name}, fairseq_state(SETTINGS)
    )
    with pytest.raises(W2VMOSError, match=message):
        read_checkpoint(path)


def test_old_args_with_another_arch_are_refused(tmp_path: Path) -> None:
    torch.save(
        {"args": argparse.Namespace(arch="wav2vec"), "model": fairseq_state(SETTINGS)},
        tmp_path / "c.pt",
    )
    with pytest.raises(W2VMOSError, match="'wav2vec' checkpoint"):
        read_checkpoint(tmp_path / "c.pt")


def test_another_architecture_state_dict_is_refused(tmp_path: Path) -> None:
    torch.save(
        {"conv1.weight": torch.zeros(3, 3), "fc.weight": torch.zeros(1, 3)}, tmp_path / "resnet.pt"
    )
    with pytest.raises(W2VMOSError, match=r"no wav2vec 2.0 weights"):
        read_checkpoint(tmp_path / "resnet.pt")


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = save_cfg_checkpoint(tmp_path / "c.pt", SETTINGS, fairseq_state(SETTINGS))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(W2VMOSError, match="can't be read as a PyTorch checkpoint"):
        read_checkpoint(path)
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(W2VMOSError, match="can't be read as a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "notes.pt")


def test_missing_weights_are_refused(tmp_path: Path) -> None:
    state = fairseq_state(SETTINGS)
    del state["encoder.layers.1.fc2.weight"]
    path = save_cfg_checkpoint(tmp_path / "c.pt", SETTINGS, state)
    with pytest.raises(W2VMOSError, match=r"lacks wav2vec 2.0 weights \(1\).*output_dense"):
        convert(read_checkpoint(path))


def test_weights_of_other_sizes_than_the_settings_are_refused(tmp_path: Path) -> None:
    path = save_cfg_checkpoint(
        tmp_path / "c.pt", {**SETTINGS, "encoder_ffn_embed_dim": 48}, fairseq_state(SETTINGS)
    )
    with pytest.raises(
        W2VMOSError, match=r"does not match its model settings.*fc1.weight \(64, 32\)"
    ):
        convert(read_checkpoint(path))


def test_unknown_extra_weights_are_refused(tmp_path: Path) -> None:
    state = fairseq_state(SETTINGS)
    state["classifier.weight"] = torch.zeros(5, 32)
    path = save_cfg_checkpoint(tmp_path / "c.pt", SETTINGS, state)
    with pytest.raises(
        W2VMOSError, match=r"neither wav2vec 2.0's nor a MOS head.*classifier.weight"
    ):
        convert(read_checkpoint(path))


def test_head_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    state = fairseq_state(SETTINGS)
    state["head.weight"], state["head.bias"] = torch.zeros(5, 32), torch.zeros(5)
    path = save_cfg_checkpoint(tmp_path / "c.pt", SETTINGS, state)
    with pytest.raises(W2VMOSError, match=r"head weight is \(5, 32\)"):
        convert(read_checkpoint(path))


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"layer_type": "conformer"}, "layer_type 'conformer'"),
        ({"pos_conv_depth": 5}, "pos_conv_depth 5"),
    ],
)
def test_variants_transformers_does_not_implement_are_refused(
    tmp_path: Path, override: dict[str, Any], named: str
) -> None:
    path = save_cfg_checkpoint(tmp_path / "c.pt", {**SETTINGS, **override}, fairseq_state(SETTINGS))
    with pytest.raises(W2VMOSError, match=named):
        convert(read_checkpoint(path))


def test_pickled_code_is_not_run(tmp_path: Path) -> None:
    torch.save(
        {"cfg": {"model": {"_name": "wav2vec2"}}, "model": fairseq_state(SETTINGS), "x": Path("/")},
        tmp_path / "c.pt",
    )
    with pytest.raises(W2VMOSError, match=r"pathlib.*PosixPath.*source you trust"):
        read_checkpoint(tmp_path / "c.pt")
    assert read_checkpoint(tmp_path / "c.pt", trust_pickle=True).settings == {"_name": "wav2vec2"}


class _RunsCode:
    """Unpickling it would make a folder: the sign that pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def test_a_checkpoint_that_would_run_code_is_refused_by_name(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"model": fairseq_state(SETTINGS), "x": _RunsCode(marker)}, tmp_path / "c.pt")
    # torch blocks the os module outright; the message still names what was refused.
    with pytest.raises(W2VMOSError, match=r"holds posix\.mkdir.*could run code.*--trust-pickle"):
        read_checkpoint(tmp_path / "c.pt")
    assert not marker.exists()
    with pytest.raises(W2VMOSError, match="is a folder: give the checkpoint file"):
        read_checkpoint(tmp_path)


def test_conv_layer_expressions() -> None:
    assert conv_layers("[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]") == [
        (512, 10, 5), (512, 3, 2), (512, 3, 2), (512, 3, 2), (512, 3, 2), (512, 2, 2), (512, 2, 2),
    ]  # fmt: skip
    for bad in ("__import__('os').system('true')", "[(1, 2)]", "[]", "[(1, 2, 3)] * 'a'"):
        with pytest.raises(W2VMOSError, match="conv_feature_layers"):
            conv_layers(bad)
