"""The dashboard's plots as PNG bytes (matplotlib's Agg canvas, no pyplot state, so
requests can draw at the same time)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def _png(figure: Figure, fmt: str = "png") -> bytes:
    """The figure as PNG (for the page) or SVG (for a paper)."""
    out = io.BytesIO()
    figure.savefig(out, format=fmt, dpi=100)
    return out.getvalue()


def _empty(figure: Figure, text: str, fmt: str = "png") -> bytes:
    figure.text(0.5, 0.5, text, ha="center", va="center", color="#666")
    return _png(figure, fmt)


def mos_sorted_png(
    mos: Sequence[float], ci_half: Sequence[float | None], fmt: str = "png"
) -> bytes:
    """The paper's Figure 1: every stimulus's MOS sorted from lowest to highest, with its
    95% CI; above 100 stimuli the CI is drawn every 5th, as the paper does, to stay
    readable."""
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    if not mos:
        return _empty(figure, "No MOS yet: run compute_mos or import labels.", fmt)
    values = np.asarray(mos, dtype=float)
    ci = np.asarray([np.nan if c is None else c for c in ci_half], dtype=float)
    order = np.argsort(values, kind="stable")
    values, ci = values[order], ci[order]
    x = np.arange(1, values.size + 1)
    axes = figure.add_subplot()
    axes.plot(x, values, ".", markersize=3, color="#1f4e9c", label="MOS")
    step = 5 if values.size > 100 else 1
    shown = np.arange(0, values.size, step)
    shown = shown[np.isfinite(ci[shown])]
    axes.errorbar(
        x[shown],
        values[shown],
        yerr=ci[shown],
        fmt="none",
        ecolor="#d9822b",
        elinewidth=0.8,
        capsize=1.5,
        label="95% CI" + (" (every 5th)" if step == 5 else ""),
    )
    axes.set_xlabel("Stimuli sorted by MOS")
    axes.set_ylabel("MOS")
    # The ACR scale, widened so that no CI is cut at 1 or 5.
    ends = np.concatenate([values - np.nan_to_num(ci), values + np.nan_to_num(ci)])
    axes.set_ylim(min(1.0, float(ends.min()) - 0.05), max(5.0, float(ends.max()) + 0.05))
    axes.set_xlim(0, values.size + 1)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure, fmt)


def progress_png(
    times: Sequence[datetime],
    votes: Sequence[int],
    votes_valid: Sequence[int],
    ci_full_mean: Sequence[float | None],
    target_ci_width: float | None = None,
    fmt: str = "png",
) -> bytes:
    """Votes collected (all and valid) and the mean 95% CI full width over time."""
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    if not times:
        return _empty(figure, "No votes yet.", fmt)
    left, right = figure.subplots(1, 2)
    # Marked, so that a single time (every vote in one bucket) still shows.
    left.plot(times, votes, drawstyle="steps-post", marker=".", label="collected")
    left.plot(times, votes_valid, drawstyle="steps-post", marker=".", label="valid")
    left.set_title("Votes", fontsize="medium")
    left.legend(fontsize="small")
    widths = [np.nan if w is None else w for w in ci_full_mean]
    right.plot(times, widths, marker=".", color="#d9822b")
    if target_ci_width is not None:
        right.axhline(target_ci_width, color="#888", linestyle="--", label="target")
        right.legend(fontsize="small")
    right.set_title("Mean 95% CI full width", fontsize="medium")
    # Counts and widths from zero: a zoomed axis makes a small change look like a cliff
    # (and a flat line look like nothing).
    left.set_ylim(bottom=0, top=max(1, max(votes, default=0)) * 1.08)
    finite = [w for w in widths if np.isfinite(w)]
    right.set_ylim(bottom=0, top=max([*finite, target_ci_width or 0, 0.1]) * 1.15)
    # Within a short collection (or a single instant) matplotlib's default date range is
    # years wide; pad the span by a few minutes instead and label clock times.
    span = max(times) - min(times)
    pad = max(span * 0.05, timedelta(minutes=5))
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.set_xlim(min(times) - pad, max(times) + pad)
        if span < timedelta(days=2):
            axes.xaxis.set_major_formatter(DateFormatter("%d %b %H:%M"))  # type: ignore[no-untyped-call]
        axes.tick_params(axis="x", labelrotation=30, labelsize="small")
    return _png(figure, fmt)
