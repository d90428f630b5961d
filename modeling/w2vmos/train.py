"""Training a run's model on labelled clips (paper §5): w2vMOS with L1 loss, Adam with
two parameter groups (1e-5 on the pre-trained backbone, 1e-4 on the linear head), batch
size 4, early stopping when the validation L1 loss has not improved for `patience` (20)
epochs, the best epoch's weights restored at the end. The baselines (`ModelConfig.name`)
go through the same loop with their own input (log-mel segments), loss (L1 or L2),
learning rates and batch size (`config.TRAIN_DEFAULTS`), and NISQA's learning-rate
schedule where asked (`TrainConfig.lr_plateau_patience`).

A run lives in one folder:
- `config.json`   the resolved configuration, code version and environment;
- `last.pt`       after every epoch: model, optimizer, scaler, learning-rate schedule,
                  epoch, best-so-far,
                  early-stopping counter, history and every RNG state, so a killed run
                  resumes from its last finished epoch exactly (same weights as a run
                  that was never interrupted, on the same device);
- `best.pt`       the best epoch's weights (written after `last.pt`, so a kill between
                  the two is repaired on resume from `last.pt`);
- `model/`        the final model (`kinds.save_quality_model`) and `result.json` once finished;
                  `last.pt` and `best.pt` are then deleted unless `keep_checkpoints`.
Calling `train_model` again on a finished folder returns the stored result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from modeling import heap, provenance
from modeling.w2vmos.config import (
    ModelConfig,
    TrainConfig,
    check_pairing,
    normalized,
    read_json,
    write_json,
)
from modeling.w2vmos.data import Batch, ClipDataset, collate_clips
from modeling.w2vmos.errors import AudioReadError, W2VMOSError
from modeling.w2vmos.kinds import build_quality_model, save_quality_model
from modeling.w2vmos.quality_model import QualityModel
from modeling.w2vmos.runtime import (
    ResolvedPrecision,
    autocast,
    environment,
    load_checkpoint,
    loader_context,
    resolve_device,
    resolve_precision,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)


@dataclass(frozen=True)
class EpochProgress:
    """What the web side shows after each epoch."""

    epoch: int
    max_epochs: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    best_epoch: int
    epochs_without_improvement: int


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    model_dir: Path | None  # None when cancelled
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    cancelled: bool
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["model_dir"] = None if self.model_dir is None else str(self.model_dir)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        return cls(
            **{
                **data,
                "run_dir": Path(data["run_dir"]),
                "model_dir": None if data["model_dir"] is None else Path(data["model_dir"]),
            }
        )


Progress = Callable[[EpochProgress], None]
ShouldStop = Callable[[], bool]


def _fingerprint(paths: Sequence[Path | str], labels: Sequence[float]) -> str:
    digest = hashlib.sha256()
    for path, label in zip(paths, labels):
        digest.update(f"{path}\t{float(label)!r}\n".encode())
    return digest.hexdigest()[:16]


def _prepare_run_dir(run_dir: Path, identity: dict[str, Any], extra: dict[str, Any]) -> None:
    """Write config.json, or check that an existing run folder was started with the same
    configuration and data (resuming with other settings would mix two experiments)."""
    config_path = run_dir / "config.json"
    if config_path.exists():
        stored = stored_identity(read_json(config_path), identity)
        if stored != json.loads(json.dumps(identity)):
            raise W2VMOSError(
                f"{run_dir} holds a run with another configuration or other data; "
                "use a new run folder"
            )
        return
    write_json(config_path, {**identity, **extra})


def stored_identity(stored: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    """The identity keys of a stored config.json, its model and train settings with
    today's defaults filled in (a folder from before a setting existed still resumes)."""
    from modeling.w2vmos.config import CVConfig

    sections = {"model": ModelConfig, "train": TrainConfig, "cv": CVConfig}
    return {
        k: normalized(sections[k], stored.get(k)) if k in sections else stored.get(k)
        for k in identity
    }


def loss_function(name: str) -> torch.nn.Module:
    return torch.nn.L1Loss() if name == "l1" else torch.nn.MSELoss()


def _loss_value(name: str, pred: np.ndarray, target: np.ndarray) -> float:
    error = pred - target
    return float(np.mean(np.abs(error)) if name == "l1" else np.mean(error**2))


def _loader(
    dataset: ClipDataset, batch_size: int, *, num_workers: int, shuffle_seed: int | None, pin: bool
) -> DataLoader[Any]:
    sampler: RandomSampler | SequentialSampler
    if shuffle_seed is None:
        sampler = SequentialSampler(dataset)
    else:
        # A generator per epoch, seeded from (run seed, epoch): the order of an epoch does
        # not depend on how many epochs this process ran before (exact resume).
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(shuffle_seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate_clips,
        num_workers=num_workers,
        multiprocessing_context=loader_context(num_workers),
        pin_memory=pin,
    )


def _to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    blocking = device.type != "cuda"
    return (
        batch.input_values.to(device, non_blocking=not blocking),
        batch.attention_mask.to(device, non_blocking=not blocking),
    )


def predict_loader(
    model: QualityModel,
    loader: DataLoader[Any],
    device: torch.device,
    precision: ResolvedPrecision,
) -> tuple[list[int], np.ndarray]:
    """(indices, predictions) of every decodable item of a loader, in eval mode."""
    model.eval()
    indices: list[int] = []
    preds: list[np.ndarray] = []
    with torch.inference_mode():
        for batch in loader:
            if not batch.indices:
                continue
            values, mask = _to_device(batch, device)
            with autocast(device, precision):
                out = model(values, mask)
            indices.extend(batch.indices)
            preds.append(out.float().cpu().numpy())
    return indices, (np.concatenate(preds) if preds else np.zeros(0, dtype=np.float32))


@heap.retained_heap()
def train_model(
    *,
    train_paths: Sequence[Path | str],
    train_labels: Sequence[float],
    val_paths: Sequence[Path | str],
    val_labels: Sequence[float],
    model_config: ModelConfig,
    train_config: TrainConfig,
    run_dir: Path | str,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> TrainResult:
    """Train the configured model and save the best epoch's under `run_dir/model`.

    Resumes from `run_dir/last.pt` when present; returns the stored result when the run
    already finished. `should_stop` is polled before every batch: when it returns true
    the run stops without saving the partial epoch and returns `cancelled=True` (a
    later call resumes). Raises W2VMOSError before any work for unusable settings
    (e.g. device "cuda" without a GPU) or unreadable audio."""
    cfg = train_config
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    if not train_paths or not val_paths:
        raise W2VMOSError("training needs at least one training and one validation clip")
    if len(train_paths) != len(train_labels) or len(val_paths) != len(val_labels):
        raise W2VMOSError("every clip needs exactly one label")
    labels = np.asarray([*train_labels, *val_labels], dtype=np.float64)
    if not np.all(np.isfinite(labels)):
        raise W2VMOSError("labels contain NaN or infinite values")
    check_pairing(model_config, cfg)

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    result_path = run / "result.json"
    if result_path.exists():
        return TrainResult.from_dict(read_json(result_path))
    identity = {
        "model": model_config.to_dict(),
        "train": cfg.to_dict(),
        "data": {
            "train": _fingerprint(train_paths, train_labels),
            "val": _fingerprint(val_paths, val_labels),
            "n_train": len(train_paths),
            "n_val": len(val_paths),
        },
    }
    extra = {
        "code_version": provenance.code_version(),
        "resolved": environment(device, precision),
    }
    _prepare_run_dir(run, identity, extra)

    seed_everything(cfg.seed)
    model = build_quality_model(model_config)
    crop, front_end = cfg.max_seconds, model.front_end()
    try:
        train_set = ClipDataset(
            train_paths, train_labels, max_seconds=crop, front_end=front_end, preload=True
        )
        val_set = ClipDataset(
            val_paths, val_labels, max_seconds=crop, front_end=front_end, preload=True
        )
    except AudioReadError as exc:
        raise W2VMOSError(f"cannot train: {exc}") from exc
    if cfg.init_head_bias_to_mean:
        with torch.no_grad():
            model.head.bias.fill_(float(np.mean(train_labels)))
    model.to(device)
    optimizer = torch.optim.Adam(
        [
            {"params": model.backbone_parameters(), "lr": cfg.lr_backbone},
            {"params": model.head_parameters(), "lr": cfg.lr_head},
        ]
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    # NISQA's schedule: stepped on the training loss, relative threshold 0.3 %.
    plateau = (
        None
        if cfg.lr_plateau_patience is None
        else torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, "min", threshold=0.003, patience=cfg.lr_plateau_patience
        )
    )
    loss_fn = loss_function(cfg.loss)

    epoch, best_val, best_epoch, stale = 0, float("inf"), 0, 0
    history: list[dict[str, float]] = []
    last_path, best_path = run / "last.pt", run / "best.pt"
    if last_path.exists():
        state = load_checkpoint(last_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        if plateau is not None:
            plateau.load_state_dict(state["plateau"])
        epoch, best_val, best_epoch = state["epoch"], state["best_val_loss"], state["best_epoch"]
        stale, history = state["epochs_without_improvement"], list(state["history"])
        set_rng_state(state["rng"])
        if best_epoch == epoch and (
            not best_path.exists() or load_checkpoint(best_path).get("epoch") != epoch
        ):
            save_checkpoint(best_path, {"model": state["model"], "epoch": epoch})

    pin = device.type == "cuda"
    val_loader = _loader(
        val_set, cfg.batch_size, num_workers=cfg.num_workers, shuffle_seed=None, pin=pin
    )
    stopped_early = stale >= cfg.patience
    while epoch < cfg.max_epochs and not stopped_early:
        model.train()
        total, count = 0.0, 0
        loader = _loader(
            train_set,
            cfg.batch_size,
            num_workers=cfg.num_workers,
            shuffle_seed=cfg.seed * 100_003 + epoch,
            pin=pin,
        )
        for batch in loader:
            if should_stop is not None and should_stop():
                return TrainResult(run, None, best_epoch, best_val, epoch, False, True, history)
            values, mask = _to_device(batch, device)
            assert batch.labels is not None
            target = batch.labels.to(device)
            with autocast(device, precision):
                pred, auxiliary = model.forward_with_auxiliary(values, mask)
            mos_loss = loss_fn(pred.float(), target)
            # A multi-task model's second loss is trained on, not reported as the MOS's.
            loss = mos_loss if auxiliary is None else mos_loss + auxiliary.float()
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += float(mos_loss.detach()) * len(batch.indices)
            count += len(batch.indices)
        epoch += 1
        train_loss = total / max(count, 1)

        idx, pred_val = predict_loader(model, val_loader, device, precision)
        val_loss = _loss_value(cfg.loss, pred_val, np.asarray(val_set.labels)[idx])
        if not (np.isfinite(val_loss) and np.isfinite(train_loss)):
            raise W2VMOSError(
                f"training diverged at epoch {epoch} (train loss {train_loss}, validation "
                f"loss {val_loss}); lower the learning rates or use fp32"
            )
        if plateau is not None:
            plateau.step(train_loss)
        improved = val_loss < best_val
        if improved:
            best_val, best_epoch, stale = val_loss, epoch, 0
        else:
            stale += 1
        stopped_early = stale >= cfg.patience
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        save_checkpoint(
            last_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                **({} if plateau is None else {"plateau": plateau.state_dict()}),
                "epoch": epoch,
                "best_val_loss": best_val,
                "best_epoch": best_epoch,
                "epochs_without_improvement": stale,
                "history": history,
                "rng": rng_state(),
            },
        )
        if improved:
            save_checkpoint(best_path, {"model": model.state_dict(), "epoch": epoch})
        if progress is not None:
            progress(
                EpochProgress(
                    epoch, cfg.max_epochs, train_loss, val_loss, best_val, best_epoch, stale
                )
            )

    model.load_state_dict(load_checkpoint(best_path)["model"])
    model_dir = save_quality_model(model.cpu(), model_config, run / "model")
    result = TrainResult(run, model_dir, best_epoch, best_val, epoch, stopped_early, False, history)
    write_json(result_path, result.to_dict())
    if not cfg.keep_checkpoints:
        last_path.unlink(missing_ok=True)
        best_path.unlink(missing_ok=True)
    return result
