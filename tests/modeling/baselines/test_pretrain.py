"""ConvMaxPool's pre-trainings on tiny synthetic music: each learns its own objective,
resumes, leaves a product the right fine-tuning starts from, and refuses the wrong one."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import pytest
import torch

from modeling.baselines.pretext import (
    ClusteringLayer,
    ConvMaxPoolMTL,
    SegmentAutoencoder,
    target_distribution,
)
from modeling.baselines.pretrain import CNNPretrainConfig, CNNPretrainProgress, pretrain_cnn
from modeling.baselines.product import read_product
from modeling.baselines.store import build_baseline, load_baseline, save_baseline
from modeling.w2vmos.config import ModelConfig, TrainConfig, read_json
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.kinds import load_quality_model
from modeling.w2vmos.train import train_model

ClipFactory = Callable[..., Path]
NoisySet = Callable[[int], tuple[list[Path], list[float]]]


class _Tiny(TypedDict):
    seconds: float
    segments_per_file: int
    batch_size: int
    device: str


TINY: _Tiny = {"seconds": 1.0, "segments_per_file": 6, "batch_size": 8, "device": "cpu"}


@pytest.fixture
def music(make_clip: ClipFactory) -> list[Path]:
    return [make_clip(f"m{i}.wav", seed=40 + i, noise=0.02 * i) for i in range(6)]


def _product(music: list[Path], folder: Path, method: str, **settings: object) -> Path:
    config = CNNPretrainConfig(method=method, **{**TINY, **settings})  # type: ignore[arg-type]
    result = pretrain_cnn(music, config=config, out_dir=folder)
    assert result.product_dir is not None and not result.cancelled
    return folder


def test_the_decoder_rebuilds_a_segment_of_the_input_shape() -> None:
    model = SegmentAutoencoder(48, 15, embed_dim=8)
    z, rebuilt = model(torch.randn(5, 48, 15))
    assert z.shape == (5, 8) and rebuilt.shape == (5, 48, 15)


def test_soft_assignment_and_target_by_hand() -> None:
    layer = ClusteringLayer(2, 1)
    with torch.no_grad():
        layer.centers.copy_(torch.tensor([[0.0], [2.0]]))
    q = layer(torch.tensor([[0.0], [1.0]])).detach()
    # z = 0: kernels 1 and 1/5 -> 5/6, 1/6; z = 1: equal distances -> 1/2, 1/2.
    assert torch.allclose(q, torch.tensor([[5 / 6, 1 / 6], [0.5, 0.5]]))
    p = target_distribution(q)
    f = q.sum(0)  # 4/3, 2/3
    row0 = torch.tensor([(5 / 6) ** 2 / f[0], (1 / 6) ** 2 / f[1]])
    assert torch.allclose(p[0], row0 / row0.sum())
    assert p[0, 0] > q[0, 0]  # sharpened


def test_autoencoder_learns_resumes_and_leaves_its_cnn(music: list[Path], tmp_path: Path) -> None:
    seen: list[CNNPretrainProgress] = []
    config = CNNPretrainConfig(method="autoencoder", epochs=6, lr=3e-3, **TINY)

    def stop_in_epoch_three() -> bool:
        return len(seen) == 2

    stopped = pretrain_cnn(
        music,
        config=config,
        out_dir=tmp_path / "ae",
        progress=seen.append,
        should_stop=stop_in_epoch_three,
    )
    assert stopped.cancelled and stopped.epochs == 2
    done = pretrain_cnn(music, config=config, out_dir=tmp_path / "ae", progress=seen.append)
    assert not done.cancelled and [h["epoch"] for h in done.history] == [1, 2, 3, 4, 5, 6]
    assert done.history[-1]["train_loss"] < done.history[0]["train_loss"]
    assert {p.phase for p in seen} == {"reconstruction"}
    # The same run without a stop gives the same weights: resume is exact.
    pretrain_cnn(music, config=config, out_dir=tmp_path / "ae2")
    first = torch.load(tmp_path / "ae/cnn/weights.pt", weights_only=True)["cnn"]
    second = torch.load(tmp_path / "ae2/cnn/weights.pt", weights_only=True)["cnn"]
    assert all(torch.allclose(first[k], second[k], atol=1e-5) for k in first)
    product = read_product(tmp_path / "ae")
    assert product.method == "autoencoder" and product.mel["n_mels"] == 48

    model = build_baseline("convmaxpool_ae", pretrained=str(tmp_path / "ae"))
    assert all(torch.equal(model.state_dict()[f"cnn.{k}"], v) for k, v in first.items())
    with pytest.raises(W2VMOSError, match="holds another pre-training run"):
        pretrain_cnn(
            music,
            config=CNNPretrainConfig(method="autoencoder", epochs=7, **TINY),
            out_dir=tmp_path / "ae",
        )


def test_dcec_clusters_after_the_autoencoder(music: list[Path], tmp_path: Path) -> None:
    seen: list[CNNPretrainProgress] = []
    config = CNNPretrainConfig(
        method="dcec",
        ae_epochs=2,
        epochs=2,
        clusters=3,
        embed_dim=4,
        **TINY,
    )
    pretrain_cnn(music, config=config, out_dir=tmp_path / "dcec", progress=seen.append)
    assert [p.phase for p in seen] == ["reconstruction"] * 2 + ["clustering"] * 2
    meta = read_json(tmp_path / "dcec/cnn/pretrained.json")
    assert sum(meta["cluster_sizes"]) == meta["items"] == 36 and len(meta["cluster_sizes"]) == 3
    weights = torch.load(tmp_path / "dcec/cnn/weights.pt", weights_only=True)
    assert weights["centers"].shape == (3, 4) and torch.isfinite(weights["centers"]).all()

    mtl = build_baseline("convmaxpool_dcec_mtl", pretrained=str(tmp_path / "dcec"))
    assert isinstance(mtl, ConvMaxPoolMTL)
    assert torch.equal(mtl.clustering.centers, weights["centers"])
    segments, mask = torch.randn(2, 5, 48, 15), torch.ones(2, 5, dtype=torch.long)
    mtl.train()
    pred, auxiliary = mtl.forward_with_auxiliary(segments, mask)
    assert pred.shape == (2,) and auxiliary is not None and float(auxiliary.detach()) >= 0

    for wrong in ("convmaxpool_ae", "convmaxpool_degr"):
        with pytest.raises(W2VMOSError, match=r"is a DCEC pre-training; .* starts from a"):
            build_baseline(wrong, pretrained=str(tmp_path / "dcec"))


def test_dcec_mtl_fine_tunes_saves_and_loads(
    music: list[Path], noisy_set: NoisySet, tmp_path: Path
) -> None:
    config = CNNPretrainConfig(
        method="dcec", ae_epochs=1, epochs=1, clusters=2, embed_dim=4, **TINY
    )
    pretrain_cnn(music, config=config, out_dir=tmp_path / "dcec")
    paths, labels = noisy_set(6)
    result = train_model(
        train_paths=paths[:4],
        train_labels=labels[:4],
        val_paths=paths[4:],
        val_labels=labels[4:],
        model_config=ModelConfig(name="convmaxpool_dcec_mtl", pretrained=str(tmp_path / "dcec")),
        train_config=TrainConfig(
            batch_size=2, max_epochs=2, device="cpu", lr_backbone=1e-4, lr_head=1e-3
        ),
        run_dir=tmp_path / "run",
    )
    assert result.model_dir is not None and len(result.history) == 2
    loaded = load_quality_model(result.model_dir)
    assert isinstance(loaded, ConvMaxPoolMTL) and loaded.clustering.centers.shape == (2, 4)
    again = load_baseline(save_baseline(loaded, "convmaxpool_dcec_mtl", tmp_path / "copy"))
    assert torch.equal(again.state_dict()["clustering.centers"], loaded.clustering.centers)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_degradation_classifier_learns_the_six_classes(music: list[Path], tmp_path: Path) -> None:
    seen: list[CNNPretrainProgress] = []
    config = CNNPretrainConfig(method="degradation", epochs=3, val_share=0.2, **TINY)
    result = pretrain_cnn(music, config=config, out_dir=tmp_path / "degr", progress=seen.append)
    assert result.items == 36 and (tmp_path / "degr/degraded/degraded.csv").is_file()
    assert [p.phase for p in seen] == ["classification"] * 3
    assert all(p.val_accuracy is not None and 0 <= p.val_accuracy <= 1 for p in seen)
    assert seen[-1].train_loss < seen[0].train_loss
    meta = read_json(tmp_path / "degr/cnn/pretrained.json")
    assert meta["classes"] == ["clean", "clip", "codec", "noise", "reverb", "echo"]
    build_baseline("convmaxpool_degr", pretrained=str(tmp_path / "degr"))
    with pytest.raises(W2VMOSError, match="is a degradation classifier pre-training"):
        build_baseline("convmaxpool_dcec", pretrained=str(tmp_path / "degr"))


def test_a_model_config_names_its_product(tmp_path: Path) -> None:
    with pytest.raises(W2VMOSError, match="give its product folder"):
        ModelConfig(name="convmaxpool_dcec")
    with pytest.raises(W2VMOSError, match="takes no pre-trained CNN"):
        ModelConfig(name="convmaxpool", pretrained=str(tmp_path))
    with pytest.raises(W2VMOSError, match="is not a finished CNN pre-training"):
        build_baseline("convmaxpool_ae", pretrained=str(tmp_path))
    with pytest.raises(W2VMOSError, match="nowhere: no such folder"):
        build_baseline("convmaxpool_ae", pretrained=str(tmp_path / "nowhere"))


def test_one_file_is_refused(make_clip: ClipFactory, tmp_path: Path) -> None:
    with pytest.raises(W2VMOSError, match="at least two usable files"):
        pretrain_cnn(
            [make_clip("one.wav")], config=CNNPretrainConfig(**TINY), out_dir=tmp_path / "o"
        )
