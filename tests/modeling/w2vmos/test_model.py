"""The W2VMOS network: padding-invariant scores, checkpoint building, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import BertConfig, BertModel, Wav2Vec2Config, Wav2Vec2Model

from modeling.w2vmos.config import ModelConfig
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.model import build_model, load_model, save_model

from .conftest import TINY_GROUP, TINY_LAYER


@pytest.mark.parametrize("tiny", [TINY_GROUP, TINY_LAYER], ids=["group-norm", "layer-norm"])
def test_a_clip_scores_the_same_alone_and_padded_in_a_batch(tiny: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(tiny_config=tiny)).eval()
    short, long = torch.randn(1, 7000), torch.randn(1, 16000)
    batch = torch.zeros(2, 16000)
    mask = torch.zeros(2, 16000, dtype=torch.long)
    batch[0, :7000], mask[0, :7000] = short[0], 1
    batch[1], mask[1] = long[0], 1
    with torch.no_grad():
        together = model(batch, mask)
        alone = torch.cat([model(short), model(long)])
    assert together.shape == (2,)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_the_masked_feature_path_matches_the_hf_backbone_without_padding() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(tiny_config=TINY_GROUP)).eval()
    audio = torch.randn(2, 12000)
    with torch.no_grad():
        ours, _ = model.frame_features(audio, torch.ones(2, 12000, dtype=torch.long))
        theirs = model.backbone(audio).last_hidden_state
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_min_samples_is_the_cnn_receptive_field() -> None:
    model = build_model(ModelConfig(tiny_config=TINY_GROUP))
    assert model.min_samples == 105  # kernels (10, 8, 4), strides (5, 4, 4)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 105)).shape == (1,)
    base = build_model(ModelConfig(tiny_config={"num_hidden_layers": 1}))
    assert base.min_samples == 400  # 25 ms at 16 kHz


def test_feature_encoder_is_frozen_and_parameter_groups_split() -> None:
    model = build_model(ModelConfig(tiny_config=TINY_GROUP))
    assert not any(p.requires_grad for p in model.backbone.feature_extractor.parameters())
    head = {id(p) for p in model.head_parameters()}
    assert head and not head & {id(p) for p in model.backbone_parameters()}
    unfrozen = build_model(ModelConfig(tiny_config=TINY_GROUP, freeze_feature_encoder=False))
    assert all(p.requires_grad for p in unfrozen.backbone.feature_extractor.parameters())


def test_save_and_load_give_identical_predictions(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = build_model(ModelConfig(tiny_config=TINY_GROUP)).eval()
    audio = torch.randn(3, 9000)
    with torch.no_grad():
        before = model(audio)
    save_model(model, tmp_path / "saved")
    assert (tmp_path / "saved" / "backbone" / "config.json").is_file()
    with torch.no_grad():
        after = load_model(tmp_path / "saved")(audio)
    assert torch.equal(before, after)


def test_backbone_comes_from_a_local_hf_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(2)
    source = Wav2Vec2Model(Wav2Vec2Config(**TINY_LAYER))
    source.save_pretrained(tmp_path / "ckpt")
    model = build_model(ModelConfig(backbone=str(tmp_path / "ckpt")))
    for name, tensor in source.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[name], tensor), name
    assert model.backbone.config.apply_spec_augment is False


def test_a_checkpoint_that_is_not_wav2vec2_is_refused(tmp_path: Path) -> None:
    bert = BertModel(
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    )
    bert.save_pretrained(tmp_path / "bert")
    with pytest.raises(W2VMOSError, match=r"'bert' checkpoint, not a wav2vec 2\.0"):
        build_model(ModelConfig(backbone=str(tmp_path / "bert")))
    with pytest.raises(W2VMOSError, match="cannot read a model config"):
        build_model(ModelConfig(backbone=str(tmp_path / "nothing-here")))
    with pytest.raises(W2VMOSError, match="not a saved w2vMOS model"):
        load_model(tmp_path / "bert")


def test_model_config_needs_exactly_one_source() -> None:
    with pytest.raises(W2VMOSError, match="exactly one"):
        ModelConfig()
    with pytest.raises(W2VMOSError, match="exactly one"):
        ModelConfig(backbone="facebook/wav2vec2-base", tiny_config={})
    with pytest.raises(W2VMOSError, match="invalid tiny_config"):
        build_model(ModelConfig(tiny_config={"feat_extract_norm": "batch"}))
