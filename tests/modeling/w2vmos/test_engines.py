"""CPU inference engines: each agrees with the fp32 model, the choice is measured once per
machine and cached, an engine too far from fp32 is never chosen, and the CPU scoring path
names the engine of every score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling.baselines.nets import ConvMaxPool
from modeling.w2vmos.config import ModelConfig
from modeling.w2vmos.engines import (
    MAX_MEAN_ABS_DIFF,
    _MatmulConv,
    _MatmulConvLayer,
    agreement,
    build_engine,
    choose_engine,
    engine_agrees,
    pick_engine,
    weights_key,
)
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.model import W2VMOS, build_model
from modeling.w2vmos.score import score_files_cpu, score_one_at_a_time

from .conftest import TINY_GROUP, TINY_LAYER, ClipFactory, music


@pytest.fixture(scope="module")
def model() -> W2VMOS:
    torch.manual_seed(3)
    built = build_model(ModelConfig(tiny_config=TINY_GROUP)).eval()
    with torch.no_grad():
        built.head.bias.fill_(3.0)  # a MOS-like output, so relative errors mean something
    return built


def clips(n: int) -> list[np.ndarray]:
    return [music(0.5 + 0.3 * i, seed=i).astype(np.float32) for i in range(n)]


def test_agreement_by_hand() -> None:
    agree = agreement([3.0, 4.0, 2.0], [3.1, 4.0, 1.9])
    assert agree.max_abs == pytest.approx(0.1)
    assert agree.mean_abs == pytest.approx(0.2 / 3)
    assert agree.pcc is not None and agree.pcc > 0.99
    assert not agree.acceptable and agreement([3.0], [3.01]).acceptable
    assert agreement([3.0], [3.01]).pcc is None  # one clip: no correlation


@pytest.mark.parametrize(
    "name", ["torch-fp32", "torch-int8", "torch-bf16", "onnx-fp32", "onnx-int8"]
)
def test_every_engine_scores_like_the_fp32_model(model: W2VMOS, name: str, tmp_path: Path) -> None:
    engine = build_engine(model, name, workdir=tmp_path)
    samples = clips(3)
    with torch.no_grad():
        expected = [model(torch.from_numpy(c)[None]).item() for c in samples]
    got = [engine.score(c) for c in samples]
    exact = name.endswith("fp32")
    tolerance = 1e-4 if exact else 5 * MAX_MEAN_ABS_DIFF
    assert np.abs(np.array(got) - expected).max() < tolerance
    if name.startswith("onnx"):
        assert list(tmp_path.glob("*.onnx"))  # exported once, reused by the next build


@pytest.mark.parametrize(
    ("channels", "kernel", "stride", "bias"),
    [(1, 10, 5, False), (6, 3, 2, True), (64, 3, 2, False), (64, 2, 2, True)],
)
def test_a_convolution_as_matrix_products_gives_the_same_sums(
    channels: int, kernel: int, stride: int, bias: bool
) -> None:
    torch.manual_seed(kernel)
    conv = torch.nn.Conv1d(channels, 8, kernel, stride=stride, bias=bias)
    hidden = torch.randn(2, channels, 101)
    with torch.no_grad():
        expected = conv(hidden)
        got = _MatmulConv(conv)(hidden.transpose(1, 2)).transpose(1, 2)  # time-major
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(W2VMOSError, match="unpadded"):
        _MatmulConv(torch.nn.Conv1d(6, 8, 3, padding=1))


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_a_front_end_layer_rewritten_time_major_gives_the_same_frames(norm: str) -> None:
    """wav2vec2-base's CNN (a GroupNorm per channel in the first layer) and large-lv60's
    (a LayerNorm in every layer): the rewritten layers chained give the same frames."""
    torch.manual_seed(5)
    config = TINY_GROUP if norm == "group" else TINY_LAYER
    built = build_model(ModelConfig(tiny_config=config)).eval()
    layers = built.backbone.feature_extractor.conv_layers
    for layer in layers:
        layer_norm = getattr(layer, "layer_norm", None)
        if isinstance(layer_norm, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
            with torch.no_grad():  # norms that are not the identity
                layer_norm.weight.uniform_(0.5, 1.5)
                layer_norm.bias.uniform_(-0.5, 0.5)
    waveform = torch.from_numpy(clips(1)[0])[None, None]
    with torch.no_grad():
        expected, got = waveform, waveform
        for layer in layers:
            expected, got = layer(expected), _MatmulConvLayer(layer)(got)
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_bf16_keeps_the_output_layer_and_the_normalisation_in_fp32(model: W2VMOS) -> None:
    normalizing = build_model(ModelConfig(tiny_config=TINY_GROUP, normalize_waveform=True))
    normalizing.load_state_dict(model.state_dict())
    normalizing.eval()
    engine = build_engine(normalizing, "torch-bf16")
    loud = (clips(1)[0] * 40.0 + 5.0).astype(
        np.float32
    )  # far from zero mean, unit variance: normalised first
    with torch.no_grad():
        expected = normalizing(torch.from_numpy(loud)[None]).item()
    assert engine.score(loud) == pytest.approx(expected, abs=MAX_MEAN_ABS_DIFF)
    # A MOS near 3 in bf16 would be rounded to steps of 1/64; the fp32 head keeps it finer.
    assert engine.score(loud) * 64 != round(engine.score(loud) * 64)
    with pytest.raises(W2VMOSError, match="w2vMOS models only"):
        build_engine(ConvMaxPool(), "torch-bf16")


def test_unknown_engine_is_refused(model: W2VMOS) -> None:
    with pytest.raises(W2VMOSError, match="unknown inference engine 'tensorrt'"):
        build_engine(model, "tensorrt")


def test_the_choice_is_measured_once_and_cached(model: W2VMOS, tmp_path: Path) -> None:
    cache = tmp_path / "choices.json"
    choice = choose_engine(model, clips(2), cache=cache, workdir=tmp_path)
    assert choice.engine in choice.seconds_per_clip
    assert set(choice.seconds_per_clip) == {
        "torch-fp32",
        "torch-int8",
        "torch-bf16",
        "onnx-fp32",
        "onnx-int8",
    }
    assert choice.agreement["torch-fp32"]["mean_abs"] == 0.0
    mean_abs = choice.agreement[choice.engine]["mean_abs"]
    assert mean_abs is not None and mean_abs <= MAX_MEAN_ABS_DIFF
    stored = json.loads(cache.read_text())
    assert stored[choice.key]["engine"] == choice.engine
    # The cached choice is taken as it is: a machine measures once per kind of model.
    stored[choice.key]["engine"] = "onnx-fp32"
    cache.write_text(json.dumps(stored))
    assert choose_engine(model, clips(2), cache=cache).engine == "onnx-fp32"


def test_an_engine_too_far_from_fp32_is_never_chosen() -> None:
    seconds = {"torch-fp32": 2.0, "torch-int8": 0.5, "onnx-fp32": 1.5}
    agreements: dict[str, dict[str, float | None]] = {
        "torch-fp32": {"mean_abs": 0.0},
        "torch-int8": {"mean_abs": 0.021},  # fastest, but too far from fp32
        "onnx-fp32": {"mean_abs": 1e-7},
    }
    assert pick_engine(seconds, agreements) == "onnx-fp32"
    agreements["torch-int8"]["mean_abs"] = 0.02
    assert pick_engine(seconds, agreements) == "torch-int8"


def test_cpu_scoring_names_its_engine_and_reports_unreadable_files(
    model: W2VMOS, make_clip: ClipFactory, tmp_path: Path
) -> None:
    good = [make_clip(f"t{i}.wav", seconds=0.6 + 0.2 * i, seed=i) for i in range(3)]
    corrupt = tmp_path / "audio" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    gone = tmp_path / "audio" / "gone.wav"  # listed, then deleted before scoring
    paths = [good[0], corrupt, good[1], gone, good[2]]
    engine = build_engine(model, "onnx-fp32", workdir=tmp_path)
    results = list(score_files_cpu(engine, model, paths, max_seconds=None))
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.engine for r in results] == ["onnx-fp32", "", "onnx-fp32", "", "onnx-fp32"]
    assert results[1].error and results[3].error and results[1].mos is None
    reference = score_one_at_a_time(model, paths, device="cpu", max_seconds=None)
    for got, want in zip(results, reference):
        if want.mos is not None:
            assert got.mos == pytest.approx(want.mos, abs=1e-4)


def test_an_engine_is_checked_against_fp32_with_each_models_weights(
    model: W2VMOS, tmp_path: Path
) -> None:
    """The choice is per architecture, but int8's error depends on the weights: a fold
    model whose output amplifies it is refused the engine the first fold chose."""
    cache = tmp_path / "agreements.json"
    samples = clips(2)
    loud = build_model(ModelConfig(tiny_config=TINY_GROUP)).eval()
    loud.load_state_dict(model.state_dict())
    with torch.no_grad():
        loud.head.weight.mul_(2000.0)  # same architecture, int8's rounding blown up
    assert weights_key(loud) != weights_key(model)
    assert engine_agrees(model, "torch-int8", samples, cache=cache)
    assert not engine_agrees(loud, "torch-int8", samples, cache=cache)
    assert engine_agrees(loud, "torch-fp32", samples, cache=cache)  # the reference
    # Checked once per machine, weights and engine: the stored answer is taken.
    stored = json.loads(cache.read_text())
    assert sorted(entry["agrees"] for entry in stored.values()) == [False, True]
    for entry in stored.values():
        entry["agrees"] = not entry["agrees"]
    cache.write_text(json.dumps(stored))
    assert engine_agrees(loud, "torch-int8", samples, cache=cache)
