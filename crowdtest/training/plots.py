"""A model run's plots as PNG bytes (matplotlib's Agg canvas, no pyplot state): metrics
per fold, training curves, predictions against MOS, and the PRA pair plot of the
paper's Figure 2. Inputs are plain fold records (`selectors.FoldPlotData`)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from modeling import metrics

from .selectors import FoldPlotData

CONCORDANT = "#1f77b4"  # the paper's blue
DISCORDANT = "#ff7f0e"  # and orange
METRICS = (("rmse", "RMSE"), ("pcc", "PCC"), ("srcc", "SRCC"), ("pra", "PRA"))


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100)
    return out.getvalue()


def _empty(figure: Figure, text: str) -> bytes:
    figure.text(0.5, 0.5, text, ha="center", va="center", color="#666")
    return _png(figure)


def fold_metrics_png(folds: Sequence[FoldPlotData]) -> bytes:
    """One panel per metric: a bar per fold and the mean over folds (dashed). A fold whose
    metric is undefined gets "n/a" instead of a bar, and that metric no mean line: the
    table's mean is n/a too."""
    figure = _figure(9, 2.8)
    scored = [f for f in folds if f.metrics]
    if not scored:
        return _empty(figure, "No fold has finished yet.")
    for axes, (key, label) in zip(figure.subplots(1, len(METRICS)), METRICS):
        values = np.array(
            [np.nan if f.metrics.get(key) is None else f.metrics[key] for f in scored]
        )
        x = np.arange(len(scored))
        axes.bar(x, values, color="#2251cc", width=0.6)
        if np.isfinite(values).all():
            axes.axhline(values.mean(), color="#888", linestyle="--", linewidth=1)
        for n in np.flatnonzero(~np.isfinite(values)):
            axes.text(
                n,
                0.05,
                "n/a",
                ha="center",
                va="bottom",
                color="#b3261e",
                fontsize="small",
                transform=axes.get_xaxis_transform(),
            )
        axes.set_xticks(x, [f"fold {f.index + 1}" for f in scored], fontsize="small")
        axes.set_title(label, fontsize="medium")
        finite = values[np.isfinite(values)]
        top = max(1.0, float(finite.max()) * 1.15) if key == "rmse" and finite.size else 1.0
        bottom = -1.0 if finite.size and finite.min() < 0 else 0.0  # a correlation below 0
        axes.set_ylim(bottom, top)
        if bottom < 0:
            axes.axhline(0, color="#444", linewidth=0.8)
        axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def loss_curves_png(folds: Sequence[FoldPlotData]) -> bytes:
    """Training (dashed) and validation (solid) L1 loss per epoch, the best epoch marked."""
    figure = _figure(9, 3.4)
    trained = [f for f in folds if f.history]
    if not trained:
        return _empty(figure, "No epoch has finished yet.")
    axes = figure.add_subplot()
    for n, fold in enumerate(trained):
        color = f"C{n}"
        epochs = [h["epoch"] for h in fold.history]
        axes.plot(epochs, [h["train_loss"] for h in fold.history], "--", color=color, alpha=0.7)
        axes.plot(epochs, [h["val_loss"] for h in fold.history], "-", color=color, label=fold.label)
        best = [h for h in fold.history if h["epoch"] == fold.best_epoch]
        if best:
            axes.plot(fold.best_epoch, best[0]["val_loss"], "o", color=color)
    axes.set_xlabel("Epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("L1 loss (MOS)")
    axes.set_title("Validation (solid) and training (dashed) loss; dot: best epoch", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _png(figure)


def predictions_png(folds: Sequence[FoldPlotData]) -> bytes:
    """Every test item's MOS against its prediction after the P.1401 mapping."""
    figure = _figure(4.6, 4.2)
    tested = [f for f in folds if f.test_mos.size]
    if not tested:
        return _empty(figure, "No test predictions yet.")
    axes = figure.add_subplot()
    for n, fold in enumerate(tested):
        axes.plot(fold.test_mos, fold.test_mapped, ".", color=f"C{n}", label=fold.label)
    axes.plot([1, 5], [1, 5], color="#888", linewidth=1)
    axes.set_xlim(1, 5)
    axes.set_ylim(1, 5)
    axes.set_xlabel("MOS")
    axes.set_ylabel("Predicted MOS (P.1401 mapped)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _png(figure)


def pra_pairs_png(folds: Sequence[FoldPlotData], title: str = "w2vMOS") -> bytes:
    """The paper's Figure 2: over the test partitions, every pair whose MOS differ by
    more than τ, at x = |ΔMOS| and y = slope Δŷ/ΔMOS; concordant pairs (slope > 0)
    blue, discordant ones orange. PRA is the share of blue among all pairs."""
    figure = _figure(6, 4.2)
    tested = [f for f in folds if f.test_mos.size and f.tau is not None]
    if not tested:
        return _empty(figure, "No test predictions yet.")
    delta, slope, score = [], [], []
    for fold in tested:
        pairs = metrics.pra_pairs(fold.test_mos, fold.test_pred, float(fold.tau or 0.0))
        delta.append(pairs.abs_delta_mos)
        slope.append(pairs.slope)
        score.append(pairs.score)
    x, y, s = np.concatenate(delta), np.concatenate(slope), np.concatenate(score)
    axes = figure.add_subplot()
    if s.size == 0:
        return _empty(figure, "No test pair differs by more than τ.")
    good, bad = s == 1.0, s == 0.0
    axes.scatter(x[good], y[good], s=10, color=CONCORDANT, alpha=0.6, label="concordant")
    axes.scatter(x[bad], y[bad], s=10, color=DISCORDANT, alpha=0.8, label="discordant")
    axes.axhline(0, color="#888", linewidth=1)
    tau = float(np.mean([f.tau for f in tested if f.tau is not None]))
    axes.axvline(tau, color="#888", linestyle=":", linewidth=1, label=f"τ = {tau:.3f}")
    pra = 100 * float(s.mean())
    # Two lines: a long model name on one line would run past the figure's edge.
    axes.set_title(
        f"{title}\nPRA {pra:.2f} % of {s.size} pairs, {len(tested)} test partitions pooled",
        fontsize="medium",
    )
    axes.set_xlabel("|ΔMOS| (ground truth)")
    axes.set_ylabel("slope Δ prediction / ΔMOS")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _png(figure)


PLOTS = {
    "folds": fold_metrics_png,
    "losses": loss_curves_png,
    "predictions": predictions_png,
}
