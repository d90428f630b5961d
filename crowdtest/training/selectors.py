"""Reads of the training app: an experiment's runs, a run's folds, the tables in the
shape of the paper's Tables 1 and 2, and the fold records the plots draw."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from crowdtest.corpus.models import Experiment

from .models import ModelFold, ModelRun, ScoringRun

Summary = Mapping[str, Mapping[str, float]]

#: Ragano, Benetos & Hines (ICASSP 2023), Tables 1 and 2, on Vinylset (620 recordings,
#: 3 folds): RMSE, PCC, SRCC and PRA (%) as mean and std over folds, in the paper's order.
#: Row names match `ModelRun.name` (`modeling.w2vmos.config.TABLE_NAMES`).
PAPER_ROWS: tuple[tuple[str, dict[str, tuple[float, float]]], ...] = (
    (
        "ConvMaxPool",
        {"rmse": (0.32, 0.009), "pcc": (0.36, 0.058), "srcc": (0.30, 0.097), "pra": (77.19, 4.33)},
    ),
    (
        "ConvMaxPool Autoencoder",
        {"rmse": (0.32, 0.016), "pcc": (0.36, 0.107), "srcc": (0.31, 0.131), "pra": (79.99, 7.81)},
    ),
    (
        "ConvMaxPool Degr. Class.",
        {"rmse": (0.31, 0.012), "pcc": (0.40, 0.074), "srcc": (0.38, 0.090), "pra": (82.72, 4.88)},
    ),
    (
        "ConvMaxPool DCEC",
        {"rmse": (0.32, 0.015), "pcc": (0.38, 0.091), "srcc": (0.34, 0.105), "pra": (84.85, 4.51)},
    ),
    (
        "ConvMaxPool DCEC MTL",
        {"rmse": (0.31, 0.011), "pcc": (0.39, 0.064), "srcc": (0.34, 0.080), "pra": (85.32, 2.49)},
    ),
    (
        "NISQA (L1 loss)",
        {"rmse": (0.33, 0.015), "pcc": (0.34, 0.035), "srcc": (0.33, 0.034), "pra": (77.95, 8.77)},
    ),
    (
        "NISQA (default)",
        {"rmse": (0.36, 0.020), "pcc": (0.38, 0.103), "srcc": (0.36, 0.007), "pra": (80.8, 10.88)},
    ),
    (
        "w2vMOS Rand. Labels",
        {"rmse": (0.34, 0.007), "pcc": (0.19, 0.068), "srcc": (0.11, 0.067), "pra": (66.13, 8.32)},
    ),
    (
        "w2vMOS",
        {"rmse": (0.29, 0.017), "pcc": (0.50, 0.079), "srcc": (0.47, 0.066), "pra": (89.74, 3.69)},
    ),
)
TABLE_METRICS = ("rmse", "pcc", "srcc", "pra")
NONE = "-"  # not (yet) computed
UNDEFINED = "n/a"  # computed, but undefined (e.g. a PCC on constant predictions)


def _number(value: Any, digits: int) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return NONE
    return f"{number:.{digits}f}" if math.isfinite(number) else UNDEFINED


def _metric(values: Mapping[str, Any], key: str, digits: int, scale: float = 1.0) -> str:
    """A stored metric: `-` when absent, n/a when stored as null (NaN)."""
    if key not in values:
        return NONE
    value = values[key]
    return UNDEFINED if value is None else _number(float(value) * scale, digits)


def mean_std_cells(summary: Summary) -> list[str]:
    """RMSE, PCC, SRCC as "0.290 ± 0.017" and PRA in percent, as the paper prints them."""
    cells = []
    for key in TABLE_METRICS:
        value = summary.get(key)
        if value is None:
            cells.append(NONE)
            continue
        scale, digits = (100.0, 2) if key == "pra" else (1.0, 3)
        mean, std = (_metric(value, part, digits, scale) for part in ("mean", "std"))
        cells.append(f"{mean} ± {std}")
    return cells


@dataclass(frozen=True)
class TableRow:
    name: str
    cells: list[str]
    run: ModelRun | None = None  # None: a row of the paper
    #: A run's row: the paper's figures for the same model, cell by cell (none: no row).
    paper_cells: list[str] = field(default_factory=list)
    #: A run's row: what its figures rest on, and why they may mislead.
    notes: list[str] = field(default_factory=list)

    @property
    def reference(self) -> bool:
        return self.run is None


def _paper_cells(values: Mapping[str, tuple[float, float]]) -> list[str]:
    return [
        f"{mean:.2f} ± {std:.3f}" if key != "pra" else f"{mean:.2f} ± {std:.2f}"
        for key, (mean, std) in ((k, values[k]) for k in TABLE_METRICS)
    ]


def paper_rows() -> list[TableRow]:
    return [
        TableRow(f"{name} (paper, Vinylset)", _paper_cells(values)) for name, values in PAPER_ROWS
    ]


#: Stimuli per test partition below which a run's figures are flagged (the paper's folds
#: test on 103 each).
SMALL_TEST = 30
PAPER_TEST = 103


def _finite(value: Any) -> float | None:
    """A stored figure, None where it is missing or undefined (NaN is stored as null)."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def comparison_notes(run: ModelRun) -> list[str]:
    """What a finished cross-validation's figures rest on (folds, test stimuli per fold),
    and warnings where they mislead: test partitions too small to compare with the
    paper's, or a metric undefined in some fold (its mean is then n/a)."""
    n_test = _finite((run.summary.get("n") or {}).get("mean"))
    if n_test is None:
        return []
    notes = [f"{run.k} folds, about {n_test:.0f} test stimuli each."]
    if n_test < SMALL_TEST:
        notes.append(
            f"Too few to compare: PCC, SRCC and PRA on about {n_test:.0f} stimuli vary widely "
            f"from fold to fold (the paper's folds test on {PAPER_TEST})."
        )
    undefined = [
        name
        for key, name in zip(TABLE_METRICS, ("RMSE", "PCC", "SRCC", "PRA"))
        if key in run.summary and _finite((run.summary[key] or {}).get("mean")) is None
    ]
    if undefined:
        notes.append(
            f"{', '.join(undefined)} n/a: undefined in at least one fold (too few test "
            "stimuli, or predictions the P.1401 mapping made constant); the run's page "
            "gives each fold's."
        )
    return notes


def comparison_rows(runs: Iterable[ModelRun]) -> list[TableRow]:
    """Finished cross-validations as rows of a Table 1/2-style comparison, each with the
    paper's figures for the same model beside it and the notes on what they rest on."""
    paper = dict(PAPER_ROWS)
    return [
        TableRow(
            f"{run.name} (run {run.pk})",
            mean_std_cells(run.summary),
            run,
            _paper_cells(paper[run.name]) if run.name in paper else [],
            comparison_notes(run),
        )
        for run in runs
        if run.kind == ModelRun.Kind.CROSSVAL and run.summary
    ]


def experiment_runs(*, experiment: Experiment) -> QuerySet[ModelRun]:
    """The experiment's runs, newest first, with their job and author: one query."""
    return (
        ModelRun.objects.filter(experiment=experiment)
        .select_related("job", "created_by")
        .defer("labels")
        .order_by("-created_at", "-pk")
    )


def run_for_page(*, slug: str, run_id: int) -> ModelRun:
    """A run of the experiment `slug` with its experiment, job, folds and scorings."""
    return get_object_or_404(
        ModelRun.objects.select_related("experiment", "job", "created_by").prefetch_related(
            Prefetch("folds", queryset=ModelFold.objects.order_by("index")),
            Prefetch("scorings", queryset=ScoringRun.objects.select_related("job")),
        ),
        pk=run_id,
        experiment__slug=slug,
    )


def fold_rows(run: ModelRun) -> list[dict[str, Any]]:
    """Per fold: sizes, epochs, best validation loss, τ and the four metrics."""
    rows = []
    for fold in run.folds.all():
        m = fold.metrics
        rows.append(
            {
                "fold": fold,
                "name": _fold_label(run, fold),
                "best_val_loss": _number(fold.best_val_loss, 3),
                "tau": _number(fold.tau, 3),
                "rmse": _metric(m, "rmse", 3),
                "pcc": _metric(m, "pcc", 3),
                "srcc": _metric(m, "srcc", 3),
                "pra": _metric(m, "pra", 2, 100.0),
                "pra_pairs": int(m.get("pra_pairs") or 0),
                "rmse_raw": _metric(m, "rmse_raw", 3),
                "pcc_raw": _metric(m, "pcc_raw", 3),
            }
        )
    return rows


def _fold_label(run: ModelRun, fold: ModelFold) -> str:
    return f"fold {fold.index + 1}" if run.kind == ModelRun.Kind.CROSSVAL else "final model"


@dataclass(frozen=True)
class FoldPlotData:
    """What the plots need of one fold."""

    index: int
    label: str
    history: list[dict[str, float]]
    best_epoch: int
    metrics: dict[str, float]
    tau: float | None
    test_mos: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_pred: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_mapped: np.ndarray = field(default_factory=lambda: np.zeros(0))


def plot_data(folds: Sequence[ModelFold], run: ModelRun) -> list[FoldPlotData]:
    data = []
    for fold in folds:
        test = [p for p in fold.predictions if p.get("split") == "test"]
        data.append(
            FoldPlotData(
                index=fold.index,
                label=_fold_label(run, fold),
                history=list(fold.history),
                best_epoch=fold.best_epoch,
                metrics=dict(fold.metrics),
                tau=fold.tau,
                test_mos=np.array([p["mos"] for p in test], dtype=float),
                test_pred=np.array([p["pred"] for p in test], dtype=float),
                test_mapped=np.array([p["pred_mapped"] for p in test], dtype=float),
            )
        )
    return data


def run_plot_data(*, slug: str, run_id: int) -> tuple[ModelRun, list[FoldPlotData]]:
    run = get_object_or_404(
        ModelRun.objects.select_related("experiment"), pk=run_id, experiment__slug=slug
    )
    return run, plot_data(list(run.folds.order_by("index")), run)


def scoring_for_download(*, slug: str, scoring_id: int) -> ScoringRun:
    return get_object_or_404(ScoringRun, pk=scoring_id, run__experiment__slug=slug)
