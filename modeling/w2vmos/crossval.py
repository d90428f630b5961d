"""The paper's evaluation protocol (§4.1, §6): stratified k-fold cross-validation
(`modeling.folds`: ≈ 67/16/16 train/validation/test per fold), one w2vMOS trained per
fold with early stopping on its validation part (w2vMOS or, by `ModelConfig.name`, one of
the paper's baselines), predictions on its test part mapped
with P.1401's monotonic third-order polynomial, then RMSE, PCC, SRCC and PRA per fold
and their mean ± std over folds.

Decisions (documented in `results.json` through the config):
- The mapping is fitted per fold on the test predictions against the test MOS, as
  P.1401 maps a model's output for the evaluation of a given test (and as NISQA does);
  `CVConfig.mapping_fit="validation"` fits it on the validation part instead, which
  avoids the in-sample optimism of the test fit.
- τ of PRA is the mean full CI width of each fold's TRAINING items (paper §6).
- Random-label control (`CVConfig.random_labels`, paper §4.2.1, Table 1 "w2vMOS Rand.
  Labels"): labels are drawn once, seeded by `CVConfig.seed`, from N(mean, std) of the
  real MOS (std with ddof=1), not clipped, and used for training AND early stopping;
  the model is evaluated against the REAL MOS of the test items, so its metrics say how
  much of the real metrics a model can reach without the labels' information (in
  particular the in-sample mapping's contribution to PCC).

Resumable: every finished fold is kept in `fold-<f>/fold.json` and not redone; an
interrupted fold resumes from its last epoch (`train_model`). `run_crossval(folds=[f])`
runs one fold only, so that each fold can be its own task on a GPU queue.

`train_final` trains the model an archive is scored with: on every item but a stratified
validation part that early stopping watches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from modeling import metrics, provenance
from modeling.folds import stratified_folds
from modeling.w2vmos.config import CVConfig, ModelConfig, TrainConfig, read_json, write_json
from modeling.w2vmos.data import ManifestItem, validate_labels
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.kinds import load_quality_model
from modeling.w2vmos.runtime import resolve_device, resolve_precision
from modeling.w2vmos.score import score_files
from modeling.w2vmos.train import EpochProgress, ShouldStop, stored_identity, train_model


@dataclass(frozen=True)
class CVProgress:
    fold: int
    k: int
    epoch: EpochProgress


@dataclass(frozen=True)
class FoldPrediction:
    """One held-out item of a fold: its index in the items, split ("val" or "test"), real
    MOS, the label trained on, and the raw and mapped predictions."""

    index: int
    path: str
    fold: int
    split: str
    mos: float
    label_used: float
    pred: float
    pred_mapped: float


@dataclass(frozen=True)
class FoldOutcome:
    """A trained fold (or the final model: `fold` 0, no test part, no metrics) as kept in
    `fold.json` and handed to whoever stores it."""

    fold: int
    n_train: int
    n_val: int
    n_test: int
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    model_dir: str
    history: list[dict[str, float]] = field(default_factory=list)
    tau: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    mapping_coefficients: list[float] = field(default_factory=list)
    predictions: list[FoldPrediction] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldOutcome:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["predictions"] = [FoldPrediction(**p) for p in data.get("predictions", [])]
        return cls(**values)


@dataclass(frozen=True)
class CVResult:
    run_dir: Path
    folds: list[FoldOutcome]
    summary: dict[str, dict[str, float]]
    cancelled: bool
    #: False when `folds` left some folds to run: no summary and no results.json yet.
    complete: bool = True


def random_labels(mos: Sequence[float] | np.ndarray, seed: int) -> np.ndarray:
    """The paper's control labels: one seeded draw from N(mean(mos), std(mos, ddof=1))."""
    real = np.asarray(mos, dtype=np.float64)
    rng = np.random.default_rng(seed)
    return rng.normal(real.mean(), real.std(ddof=1), real.size)


def _data_fingerprint(items: Sequence[ManifestItem]) -> str:
    digest = hashlib.sha256()
    for it in items:
        digest.update(f"{it.path}\t{it.mos!r}\t{it.ci!r}\t{it.mos_class}\n".encode())
    return digest.hexdigest()[:16]


def _predict(model_dir: Path, paths: list[Path], train_config: TrainConfig) -> np.ndarray:
    model = load_quality_model(model_dir)
    preds = np.full(len(paths), np.nan)
    for r in score_files(
        model,
        paths,
        batch_size=max(train_config.batch_size, 8),
        device=train_config.device,
        precision=train_config.precision,
        max_seconds=train_config.max_seconds,
        num_workers=train_config.num_workers,
    ):
        if r.mos is None:
            raise W2VMOSError(f"cannot score {r.path}: {r.error}")
        preds[r.index] = r.mos
    return preds


def _run_fold(
    f: int,
    fold_dir: Path,
    split: dict[str, np.ndarray],
    items: Sequence[ManifestItem],
    used: np.ndarray,
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    cv_config: CVConfig,
    progress: Callable[[EpochProgress], None] | None,
    should_stop: ShouldStop | None,
) -> FoldOutcome | None:
    paths = [it.path for it in items]
    real = np.array([float(it.mos or 0.0) for it in items])
    ci = np.array([float(it.ci or 0.0) for it in items])
    tr, va, te = split["train"], split["val"], split["test"]
    result = train_model(
        train_paths=[paths[i] for i in tr],
        train_labels=used[tr].tolist(),
        val_paths=[paths[i] for i in va],
        val_labels=used[va].tolist(),
        model_config=model_config,
        train_config=train_config,
        run_dir=fold_dir / "train",
        progress=progress,
        should_stop=should_stop,
    )
    if result.cancelled or result.model_dir is None:
        return None
    both = np.concatenate([va, te])
    pred = _predict(result.model_dir, [paths[i] for i in both], train_config)
    pred_val, pred_test = pred[: va.size], pred[va.size :]
    if cv_config.mapping_fit == "validation":
        coefficients = metrics.p1401_fit_third_order(pred_val, real[va])
    else:
        coefficients = metrics.p1401_fit_third_order(pred_test, real[te])
    fold_metrics = metrics.evaluate(real[te], pred_test, ci[tr], coefficients=coefficients)
    mapped = metrics.p1401_map(pred, coefficients)
    predictions = [
        FoldPrediction(
            index=int(i),
            path=str(paths[i]),
            fold=f,
            split="val" if n < va.size else "test",
            mos=float(real[i]),
            label_used=float(used[i]),
            pred=float(pred[n]),
            pred_mapped=float(mapped[n]),
        )
        for n, i in enumerate(both)
    ]
    return FoldOutcome(
        fold=f,
        n_train=int(tr.size),
        n_val=int(va.size),
        n_test=int(te.size),
        tau=fold_metrics["tau"],
        metrics=fold_metrics,
        mapping_coefficients=[float(c) for c in coefficients],
        best_epoch=result.best_epoch,
        best_val_loss=result.best_val_loss,
        epochs_run=result.epochs_run,
        stopped_early=result.stopped_early,
        history=result.history,
        model_dir=str(result.model_dir),
        predictions=predictions,
    )


def run_crossval(
    items: Sequence[ManifestItem],
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    cv_config: CVConfig,
    run_dir: Path | str,
    progress: Callable[[CVProgress], None] | None = None,
    should_stop: ShouldStop | None = None,
    folds: Collection[int] | None = None,
) -> CVResult:
    """Run (or resume) the whole protocol and write `run_dir/results.json`: per-fold
    metrics, their mean ± std, τ, mapping coefficients, training history and per-item
    predictions (fold, split, MOS, label used, raw and mapped prediction). Labels,
    settings and the device are checked before any training starts.

    `folds` (indices) runs only those folds, e.g. one per task: finished folds are
    read back, the others left alone, and results.json is written once every fold has
    finished (`complete`). `folds=()` only gathers finished folds."""
    validate_labels(items, k=cv_config.k)
    resolve_precision(train_config.precision, resolve_device(train_config.device))

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    identity = {
        "model": model_config.to_dict(),
        "train": train_config.to_dict(),
        "cv": cv_config.to_dict(),
        "data": {"items": len(items), "fingerprint": _data_fingerprint(items)},
    }
    config_path = run / "config.json"
    if config_path.exists():
        stored = stored_identity(read_json(config_path), identity)
        if stored != json.loads(json.dumps(identity)):
            raise W2VMOSError(f"{run} holds another cross-validation; use a new run folder")
    else:
        write_json(config_path, {**identity, "code_version": provenance.code_version()})

    real = np.array([float(it.mos or 0.0) for it in items])
    used = random_labels(real, cv_config.seed) if cv_config.random_labels else real
    splits = stratified_folds([it.mos_class for it in items], k=cv_config.k, seed=cv_config.seed)

    done: list[FoldOutcome] = []
    for fold in splits:
        fold_dir = run / f"fold-{fold.index}"
        fold_path = fold_dir / "fold.json"
        if fold_path.exists():
            done.append(FoldOutcome.from_dict(read_json(fold_path)))
            continue
        if folds is not None and fold.index not in folds:
            continue

        def report(epoch: EpochProgress, f: int = fold.index) -> None:
            if progress is not None:
                progress(CVProgress(f, cv_config.k, epoch))

        outcome = _run_fold(
            fold.index,
            fold_dir,
            {"train": fold.train, "val": fold.val, "test": fold.test},
            items,
            used,
            model_config=model_config,
            train_config=train_config,
            cv_config=cv_config,
            progress=report,
            should_stop=should_stop,
        )
        if outcome is None:
            return CVResult(run, done, {}, cancelled=True, complete=False)
        write_json(fold_path, outcome.to_dict())
        done.append(outcome)

    if len(done) < len(splits):
        return CVResult(run, done, {}, cancelled=False, complete=False)
    summary = metrics.mean_std_over_folds([f.metrics for f in done])
    write_json(
        run / "results.json",
        {
            **identity,
            "code_version": provenance.code_version(),
            "random_labels": cv_config.random_labels,
            "evaluated_against": "real MOS",
            "folds": [{k: v for k, v in f.to_dict().items() if k != "predictions"} for f in done],
            "summary": summary,
            "predictions": [asdict(p) for f in done for p in f.predictions],
        },
    )
    return CVResult(run, done, summary, cancelled=False)


def train_final(
    items: Sequence[ManifestItem],
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    cv_config: CVConfig,
    run_dir: Path | str,
    progress: Callable[[EpochProgress], None] | None = None,
    should_stop: ShouldStop | None = None,
) -> FoldOutcome | None:
    """The model that scores an archive: trained on every item except a stratified
        validation part, the validation half of fold 0's held-out part (≈ 1/(2k) of the
        items, 1/6 for k = 3), on which early stopping picks the best epoch. Labels are the
        real MOS, or the seeded random draw when `cv_config.random_labels`. Resumable like
        `train_model` (its folder is `run_dir`). CIs are not needed (no PRA here). The outcome
    is fold 0's with no test part and no metrics; None when stopped."""
    validate_labels(items)
    if any(not it.mos_class for it in items):
        raise W2VMOSError("every item needs its MOS class (the validation part is stratified)")
    classes = [it.mos_class for it in items]
    try:
        fold = stratified_folds(classes, k=cv_config.k, seed=cv_config.seed)[0]
    except ValueError as exc:
        raise W2VMOSError(str(exc)) from exc
    real = np.array([float(it.mos or 0.0) for it in items])
    used = random_labels(real, cv_config.seed) if cv_config.random_labels else real
    train = np.sort(np.concatenate([fold.train, fold.test]))
    result = train_model(
        train_paths=[items[i].path for i in train],
        train_labels=used[train].tolist(),
        val_paths=[items[i].path for i in fold.val],
        val_labels=used[fold.val].tolist(),
        model_config=model_config,
        train_config=train_config,
        run_dir=run_dir,
        progress=progress,
        should_stop=should_stop,
    )
    if result.cancelled or result.model_dir is None:
        return None
    return FoldOutcome(
        fold=0,
        n_train=int(train.size),
        n_val=int(fold.val.size),
        n_test=0,
        best_epoch=result.best_epoch,
        best_val_loss=result.best_val_loss,
        epochs_run=result.epochs_run,
        stopped_early=result.stopped_early,
        model_dir=str(result.model_dir),
        history=result.history,
    )
