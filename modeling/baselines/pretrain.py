"""ConvMaxPool's three pre-trainings of NISQA's framewise CNN on unlabeled music (paper
§4.2.3), each leaving a product folder (`product`) that `ModelConfig(pretrained=...)`
fine-tunes from:

- "autoencoder": the CNN as encoder of a convolutional autoencoder of single log-mel
  segments (`pretext.SegmentAutoencoder`), mean squared reconstruction error of the
  standardised segment;
- "degradation": the synthetic set of `modeling.degrade` made from the music first (six
  versions of each excerpt), then the CNN with ConvMaxPool's max-pooling and a six-way
  linear layer trained with cross-entropy (`pretext.DegradationClassifier`); the
  held-out part is whole sources, so no excerpt is seen in both parts;
- "dcec": deep convolutional embedded clustering (Guo et al., ICONIP 2017): the
  autoencoder for `ae_epochs` epochs, K-Means (k = `clusters`, 10 seeded starts) on the
  embeddings for the cluster centres, then reconstruction + `cluster_weight` x KL(P||Q)
  with the target P recomputed over the whole training set every `target_every` epochs.

The autoencoder and DCEC learn from `segments_per_file` segments spread evenly over each
file's `seconds`-long middle excerpt; the degradation classifier from whole excerpts, as
ConvMaxPool sees them. A share `val_share` is held out and its loss (and accuracy) is
reported after every epoch. A run lives in its output folder: `config.json`, a
`checkpoint.pt` after every epoch (a stopped run resumes exactly from its last epoch)
and, at the end, the product `cnn/`. Plain torch, seeded, no Django.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modeling import heap, provenance
from modeling.baselines import product as products
from modeling.baselines.pretext import (
    ClusteringLayer,
    DegradationClassifier,
    SegmentAutoencoder,
    clustering_loss,
    target_distribution,
)
from modeling.baselines.store import MelFrontEnd
from modeling.mel import MelSettings
from modeling.w2vmos.config import _check_device, _JSONConfig, read_json, write_json
from modeling.w2vmos.errors import AudioReadError, W2VMOSError
from modeling.w2vmos.runtime import (
    environment,
    load_checkpoint,
    resolve_device,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)

METHODS = products.METHODS


@dataclasses.dataclass(frozen=True)
class CNNPretrainConfig(_JSONConfig):
    method: str = "autoencoder"
    #: Epochs of the method's own objective (DCEC: of clustering, after `ae_epochs`).
    epochs: int = 50
    #: Segments per batch (autoencoder, DCEC) or clips per batch (degradation).
    batch_size: int = 64
    lr: float = 1e-3
    seconds: float = 10.0
    segments_per_file: int = 32
    embed_dim: int = 32
    clusters: int = 5
    cluster_weight: float = 0.1
    ae_epochs: int = 10
    target_every: int = 1
    val_share: float = 0.1
    seed: int = 0
    device: str = "auto"
    mel: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_device(self.device, "fp32")
        if self.method not in METHODS:
            raise W2VMOSError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if min(self.epochs, self.batch_size, self.segments_per_file, self.target_every) < 1:
            raise W2VMOSError("epochs, batch_size, segments_per_file, target_every must be >= 1")
        if self.embed_dim < 1 or self.clusters < 2 or self.ae_epochs < 0:
            raise W2VMOSError("embed_dim must be >= 1, clusters >= 2 and ae_epochs >= 0")
        if not 0.0 < self.val_share < 0.5:
            raise W2VMOSError("val_share must be between 0 and 0.5")
        if self.seconds <= 0 or self.lr <= 0 or self.cluster_weight < 0:
            raise W2VMOSError("seconds and lr must be > 0, cluster_weight >= 0")

    @property
    def total_epochs(self) -> int:
        return self.epochs + (self.ae_epochs if self.method == "dcec" else 0)

    @property
    def mel_settings(self) -> MelSettings:
        try:
            return MelSettings.from_dict(self.mel)
        except (TypeError, ValueError) as exc:
            raise W2VMOSError(f"invalid mel settings: {exc}") from exc


@dataclass(frozen=True)
class CNNPretrainProgress:
    epoch: int
    epochs: int
    phase: str  # "reconstruction", "clustering", "classification"
    train_loss: float
    val_loss: float
    val_accuracy: float | None = None  # degradation classifier only


@dataclass(frozen=True)
class CNNPretrainResult:
    product_dir: Path | None  # None when stopped
    epochs: int
    items: int
    skipped: list[tuple[str, str]]
    history: list[dict[str, float]]
    cancelled: bool


Progress = Callable[[CNNPretrainProgress], None]
ShouldStop = Callable[[], bool]


def _evenly(count: int, keep: int) -> np.ndarray:
    return np.unique(np.linspace(0, count - 1, min(keep, count)).round().astype(int))


def load_segments(
    paths: Sequence[Path], config: CNNPretrainConfig
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """(segments (M, n_mels, seg_length), the file each came from, skipped files)."""
    front_end = MelFrontEnd(config.mel_settings)
    chunks: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    for n, path in enumerate(paths):
        try:
            segments = front_end(path, max_seconds=config.seconds)
        except AudioReadError as exc:
            skipped.append((str(path), str(exc)))
            continue
        keep = segments[_evenly(len(segments), config.segments_per_file)]
        chunks.append(np.ascontiguousarray(keep))
        owners.append(np.full(len(keep), n))
    if not chunks:
        raise W2VMOSError("no audio to pre-train on (every file was unreadable or too short)")
    return np.concatenate(chunks), np.concatenate(owners), skipped


def _split(groups: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out indices, whole groups (files, sources) on one side."""
    unique = np.unique(groups)
    if unique.size < 2:
        raise W2VMOSError("pre-training needs at least two usable files (one is held out)")
    rng = np.random.default_rng(seed)
    held = rng.permutation(unique)[: max(1, round(unique.size * share))]
    val = np.isin(groups, held)
    return np.flatnonzero(~val), np.flatnonzero(val)


class _Segments:
    """Segments as one float tensor, with their standardisation for the decoder."""

    def __init__(self, segments: np.ndarray, train: np.ndarray, val: np.ndarray) -> None:
        self.all = torch.from_numpy(segments)
        self.train, self.val = train, val
        sample = segments[train]
        self.mean, self.std = float(sample.mean()), float(sample.std()) or 1.0

    def target(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class _Trainer:
    """The state a run checkpoints: model, optimizer, epoch, history, RNG."""

    def __init__(self, model: nn.Module, lr: float, device: torch.device) -> None:
        self.model = model.to(device)
        self.device = device
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.extra: dict[str, Any] = {}

    def save(self, path: Path) -> None:
        save_checkpoint(
            path,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": self.epoch,
                "history": self.history,
                "extra": self.extra,
                "rng": rng_state(),
            },
        )

    def load(self, path: Path) -> None:
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        self.extra = dict(state["extra"])
        set_rng_state(state["rng"])


def _batches(indices: np.ndarray, size: int, seed: int | None) -> list[np.ndarray]:
    order = indices if seed is None else np.random.default_rng(seed).permutation(indices)
    return [order[i : i + size] for i in range(0, order.size, size)]


def _embeddings(model: SegmentAutoencoder, data: _Segments, idx: np.ndarray) -> torch.Tensor:
    model.eval()
    out = []
    with torch.inference_mode():
        for batch in _batches(idx, 512, None):
            out.append(model.encode(data.all[batch].to(next(model.parameters()).device)))
    return torch.cat(out)


def _kmeans_centres(z: torch.Tensor, clusters: int, seed: int) -> torch.Tensor:
    from sklearn.cluster import KMeans

    if z.shape[0] < clusters:
        raise W2VMOSError(f"{z.shape[0]} training segments are fewer than {clusters} clusters")
    fitted = KMeans(n_clusters=clusters, n_init=10, random_state=seed).fit(z.cpu().numpy())
    return torch.as_tensor(fitted.cluster_centers_, dtype=torch.float32)


class _DCEC(nn.Module):
    def __init__(self, autoencoder: SegmentAutoencoder, clusters: int, embed_dim: int) -> None:
        super().__init__()
        self.autoencoder = autoencoder
        self.clustering = ClusteringLayer(clusters, embed_dim)


def _segment_epoch(
    trainer: _Trainer,
    data: _Segments,
    config: CNNPretrainConfig,
    should_stop: ShouldStop | None,
    target: torch.Tensor | None,
) -> tuple[float, float] | None:
    """One epoch of reconstruction (and clustering, with `target` P of every segment);
    (train loss, held-out loss), None when stopped."""
    dcec = trainer.model if isinstance(trainer.model, _DCEC) else None
    autoencoder = dcec.autoencoder if dcec else trainer.model
    assert isinstance(autoencoder, SegmentAutoencoder)
    device = trainer.device

    def loss_of(batch: np.ndarray, p: torch.Tensor | None) -> torch.Tensor:
        x = data.all[batch].to(device)
        z, rebuilt = autoencoder(x)
        loss = F.mse_loss(rebuilt, data.target(x))
        if dcec is not None and p is not None:
            loss = loss + config.cluster_weight * clustering_loss(dcec.clustering(z), p)
        return loss

    trainer.model.train()
    total, count = 0.0, 0
    seed = config.seed * 100_003 + trainer.epoch
    for batch in _batches(data.train, config.batch_size, seed):
        if should_stop is not None and should_stop():
            return None
        p = None if target is None else target[torch.from_numpy(batch)].to(device)
        loss = loss_of(batch, p)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        trainer.optimizer.step()
        total, count = total + float(loss.detach()) * batch.size, count + batch.size
    trainer.model.eval()
    val_total = 0.0
    with torch.inference_mode():
        for batch in _batches(data.val, 512, None):
            p = None
            if dcec is not None and target is not None:
                q = dcec.clustering(autoencoder.encode(data.all[batch].to(device)))
                p = target_distribution(q)
            val_total += float(loss_of(batch, p)) * batch.size
    return total / max(count, 1), val_total / max(data.val.size, 1)


def _check_run_dir(out: Path, identity: dict[str, Any], device: torch.device) -> None:
    config_path = out / "config.json"
    if config_path.exists():
        stored = read_json(config_path)
        if {k: stored.get(k) for k in identity} != json.loads(json.dumps(identity)):
            raise W2VMOSError(f"{out} holds another pre-training run; use a new folder")
    else:
        write_json(
            config_path,
            {
                **identity,
                "code_version": provenance.code_version(),
                "resolved": environment(device, "fp32"),
            },
        )


def _write_product(
    out: Path,
    config: CNNPretrainConfig,
    weights: dict[str, Any],
    history: list[dict[str, float]],
    extra: dict[str, Any],
) -> Path:
    folder = out / products.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(weights, folder / products.WEIGHTS_FILE)
    meta = {
        "format": products.FORMAT,
        "method": config.method,
        "mel": config.mel_settings.to_dict(),
        "embed_dim": config.embed_dim if config.method == "dcec" else 0,
        "clusters": config.clusters if config.method == "dcec" else 0,
        "config": config.to_dict(),
        "history": history,
        "code_version": provenance.code_version(),
        **extra,
    }
    write_json(folder / products.META_FILE, meta)
    return folder


def _cpu(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


@heap.retained_heap()
def pretrain_cnn(
    paths: Sequence[Path | str],
    *,
    config: CNNPretrainConfig,
    out_dir: Path | str,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    set_progress: Callable[[int, int], None] | None = None,
) -> CNNPretrainResult:
    """Pre-train (or resume pre-training) the CNN with `config.method` on unlabeled audio
    files and write the product `out_dir/cnn/`. `set_progress(done, total)` reports the
    degraded set's making (degradation only)."""
    device = resolve_device(config.device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [Path(p) for p in paths]
    if not files:
        raise W2VMOSError("no audio files to pre-train on")
    if (out / products.FOLDER / products.META_FILE).exists():
        meta = read_json(out / products.FOLDER / products.META_FILE)
        if meta.get("config") == config.to_dict():
            return CNNPretrainResult(
                out / products.FOLDER,
                config.total_epochs,
                int(meta.get("items", 0)),
                [(str(s[0]), str(s[1])) for s in meta.get("skipped", [])],
                list(meta.get("history", [])),
                cancelled=False,
            )
    identity = {"pretrain_cnn": config.to_dict(), "files": [str(p) for p in files]}
    _check_run_dir(out, identity, device)
    seed_everything(config.seed)
    if config.method == "degradation":
        return _pretrain_degradation(
            files, config, out, device, progress, should_stop, set_progress
        )
    return _pretrain_segments(files, config, out, device, progress, should_stop)


def _pretrain_segments(
    files: list[Path],
    config: CNNPretrainConfig,
    out: Path,
    device: torch.device,
    progress: Progress | None,
    should_stop: ShouldStop | None,
) -> CNNPretrainResult:
    segments, owners, skipped = load_segments(files, config)
    train, val = _split(owners, config.val_share, config.seed)
    data = _Segments(segments, train, val)
    mel = config.mel_settings
    autoencoder = SegmentAutoencoder(mel.n_mels, mel.seg_length, config.embed_dim)
    model: nn.Module = autoencoder
    if config.method == "dcec":
        model = _DCEC(autoencoder, config.clusters, config.embed_dim)
    trainer = _Trainer(model, config.lr, device)
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        trainer.load(checkpoint)
    target: torch.Tensor | None = None
    while trainer.epoch < config.total_epochs:
        clustering = config.method == "dcec" and trainer.epoch >= config.ae_epochs
        if clustering and isinstance(model, _DCEC):
            if not trainer.extra.get("centres_initialised"):
                with torch.no_grad():
                    z = _embeddings(autoencoder, data, data.train)
                    model.clustering.centers.copy_(_kmeans_centres(z, config.clusters, config.seed))
                trainer.extra["centres_initialised"] = True
            since = trainer.epoch - config.ae_epochs
            if target is None or since % config.target_every == 0:
                with torch.no_grad():
                    q = model.clustering(_embeddings(autoencoder, data, np.arange(len(segments))))
                    target = target_distribution(q).cpu()
        losses = _segment_epoch(trainer, data, config, should_stop, target if clustering else None)
        if losses is None:
            return CNNPretrainResult(
                None, trainer.epoch, len(segments), skipped, trainer.history, True
            )
        trainer.epoch += 1
        phase = "clustering" if clustering else "reconstruction"
        trainer.history.append(
            {"epoch": trainer.epoch, "train_loss": losses[0], "val_loss": losses[1]}
        )
        trainer.save(checkpoint)
        if not all(np.isfinite(losses)):
            raise W2VMOSError(f"pre-training diverged at epoch {trainer.epoch}; lower the lr")
        if progress is not None:
            progress(CNNPretrainProgress(trainer.epoch, config.total_epochs, phase, *losses))
    weights: dict[str, Any] = {
        "cnn": _cpu(autoencoder.cnn),
        "bottleneck": _cpu(autoencoder.bottleneck),
    }
    extra: dict[str, Any] = {"items": len(segments), "skipped": [list(s) for s in skipped]}
    if isinstance(model, _DCEC):
        weights["centers"] = model.clustering.centers.detach().cpu()
        with torch.no_grad():
            q = model.clustering(_embeddings(autoencoder, data, np.arange(len(segments))))
        extra["cluster_sizes"] = np.bincount(
            q.argmax(1).cpu().numpy(), minlength=config.clusters
        ).tolist()
    folder = _write_product(out, config, weights, trainer.history, extra)
    return CNNPretrainResult(folder, trainer.epoch, len(segments), skipped, trainer.history, False)


def _pretrain_degradation(
    files: list[Path],
    config: CNNPretrainConfig,
    out: Path,
    device: torch.device,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    set_progress: Callable[[int, int], None] | None,
) -> CNNPretrainResult:
    from modeling.degrade import CLASSES, DegradeError, DegradeSettings, make_degraded_set
    from modeling.w2vmos.data import ClipDataset, collate_clips

    mel = config.mel_settings
    try:
        made = make_degraded_set(
            files,
            out / "degraded",
            DegradeSettings(
                seconds=config.seconds,
                sample_rate=mel.sample_rate,
                min_seconds=min(1.0, config.seconds),
                seed=config.seed,
            ),
            progress=set_progress,
        )
    except DegradeError as exc:
        raise W2VMOSError(str(exc)) from exc
    sources = np.array([f.source for f in made.files])
    train, val = _split(sources, config.val_share, config.seed)
    labels = [float(f.class_index) for f in made.files]
    dataset = ClipDataset(
        [f.path for f in made.files],
        labels,
        max_seconds=None,
        front_end=MelFrontEnd(mel),
        preload=True,
    )
    model = DegradationClassifier(len(CLASSES))
    trainer = _Trainer(model, config.lr, device)
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        trainer.load(checkpoint)

    def run(indices: np.ndarray, seed: int | None) -> tuple[float, float] | None:
        total, correct = 0.0, 0
        for batch in _batches(indices, config.batch_size, seed):
            if seed is not None and should_stop is not None and should_stop():
                return None
            clips = collate_clips([dataset[int(i)] for i in batch])
            assert clips.labels is not None
            target = clips.labels.long().to(device)
            with torch.set_grad_enabled(seed is not None):
                logits = model(clips.input_values.to(device), clips.attention_mask.to(device))
                loss = F.cross_entropy(logits, target)
            if seed is not None:
                trainer.optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                trainer.optimizer.step()
            total += float(loss.detach()) * batch.size
            correct += int((logits.argmax(1) == target).sum())
        return total / max(indices.size, 1), correct / max(indices.size, 1)

    while trainer.epoch < config.total_epochs:
        model.train()
        trained = run(train, config.seed * 100_003 + trainer.epoch)
        if trained is None:
            return CNNPretrainResult(
                None, trainer.epoch, len(made.files), made.skipped, trainer.history, True
            )
        model.eval()
        held = run(val, None)
        assert held is not None
        trainer.epoch += 1
        trainer.history.append(
            {
                "epoch": trainer.epoch,
                "train_loss": trained[0],
                "val_loss": held[0],
                "val_accuracy": held[1],
            }
        )
        trainer.save(checkpoint)
        if progress is not None:
            progress(
                CNNPretrainProgress(
                    trainer.epoch, config.total_epochs, "classification", trained[0], *held
                )
            )
    weights = {"cnn": _cpu(model.cnn), "classifier": _cpu(model.head)}
    extra = {
        "items": len(made.files),
        "skipped": [list(s) for s in made.skipped],
        "classes": list(CLASSES),
        "degraded_set": str(made.folder),
    }
    folder = _write_product(out, config, weights, trainer.history, extra)
    return CNNPretrainResult(
        folder, trainer.epoch, len(made.files), made.skipped, trainer.history, False
    )


def load_pretrained_cnn(model: nn.Module, product: products.Product) -> None:
    """Copy a product's CNN (and, where `model` has them, DCEC's bottleneck and cluster
    centres) into a fresh fine-tuning model."""
    weights = torch.load(product.weights, map_location="cpu", weights_only=True)
    cnn = getattr(model, "cnn", None)
    if not isinstance(cnn, nn.Module):
        raise W2VMOSError("this model has no framewise CNN to start from a pre-training")
    from modeling.baselines.pretext import ConvMaxPoolMTL

    try:
        cnn.load_state_dict(weights["cnn"])
        if isinstance(model, ConvMaxPoolMTL):
            model.bottleneck.load_state_dict(weights["bottleneck"])
            with torch.no_grad():
                model.clustering.centers.copy_(weights["centers"])
    except (KeyError, RuntimeError) as exc:
        raise W2VMOSError(f"{product.folder}: weights do not fit the model: {exc}") from exc
