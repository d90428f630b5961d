"""Per-stimulus opinion statistics: MOS, standard deviation, vote count, 95% confidence
intervals, and the 15 MOS classes that stratify cross-validation.

ITU-T P.800.2 (MOS terminology and reporting) takes the MOS as the arithmetic mean of the
votes on the ACR scale, reported with the number of votes and a 95% confidence interval
from Student's t, ``t(0.975, n-1) * s / sqrt(n)``, ``s`` the sample standard deviation
(ddof=1). The P.808 crowdsourcing toolkit and the Vinylset file
use the normal approximation ``1.96 * s / sqrt(n)`` instead; both are given here, and the
Vinylset CSV keeps the normal one. All CIs here are HALF-widths; the paper's "average CI
~ 0.87" and its PRA threshold are the FULL width (twice the half-width).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

Z_95 = 1.96  # two-sided 95% quantile of the normal distribution, rounded as P.808 does


@dataclass(frozen=True)
class MosSummary:
    """Statistics of one stimulus's votes.

    With a single vote the spread is undefined: ``std``, ``ci95_normal`` and ``ci95_t``
    are ``None`` (as the P.808 toolkit writes them), never 0, so a one-vote stimulus
    cannot pass for a perfectly agreed one.
    """

    mos: float
    std: float | None
    n: int
    ci95_normal: float | None
    ci95_t: float | None


def mos_summary(scores: Iterable[float]) -> MosSummary:
    """MOS, sample std (ddof=1), vote count and 95% CI half-widths of one stimulus's votes
    (ITU-T P.800.2; the P.808 toolkit's CI is the normal approximation)."""
    votes = np.asarray(list(scores), dtype=float)
    n = int(votes.size)
    if n == 0:
        raise ValueError("a MOS needs at least one vote")
    mos = float(votes.mean())
    if n == 1:
        return MosSummary(mos=mos, std=None, n=1, ci95_normal=None, ci95_t=None)
    std = float(votes.std(ddof=1))
    return MosSummary(
        mos=mos,
        std=std,
        n=n,
        ci95_normal=float(ci_half_width_normal(std, n)),
        ci95_t=float(ci_half_width_t(std, n)),
    )


def mos_by_stimulus(
    stimulus_ids: Sequence[Hashable], scores: Sequence[float]
) -> dict[Hashable, MosSummary]:
    """`mos_summary` of every stimulus from parallel (stimulus, vote) sequences."""
    if len(stimulus_ids) != len(scores):
        raise ValueError("stimulus_ids and scores must have the same length")
    votes: dict[Hashable, list[float]] = {}
    for stimulus, score in zip(stimulus_ids, scores):
        votes.setdefault(stimulus, []).append(float(score))
    return {stimulus: mos_summary(v) for stimulus, v in votes.items()}


def ci_half_width_normal(std: npt.ArrayLike, n: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """95% CI half-width with the normal approximation, ``1.96 * std / sqrt(n)``
    (P.808 toolkit, Vinylset ``CI`` column). NaN where n < 2."""
    s = np.asarray(std, dtype=float)
    count = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = Z_95 * s / np.sqrt(count)
    return np.where(count >= 2, half, np.nan)


def ci_half_width_t(std: npt.ArrayLike, n: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """95% CI half-width with Student's t, ``t(0.975, n-1) * std / sqrt(n)``
    (ITU-T P.800.2). NaN where n < 2."""
    s = np.asarray(std, dtype=float)
    count = np.asarray(n, dtype=float)
    df = np.where(count >= 2, count - 1, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = stats.t.ppf(0.975, df) * s / np.sqrt(count)
    return np.where(count >= 2, half, np.nan)


def votes_from_ci(ci_half: npt.ArrayLike, std: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Vote count recovered from a normal 95% CI half-width and the std:
    ``round((1.96 * std / CI)**2)``. The Vinylset file has no `n` column; this is how it
    is recovered. Undefined (raises) where the CI is 0 or not finite."""
    ci = np.asarray(ci_half, dtype=float)
    s = np.asarray(std, dtype=float)
    if np.any(~np.isfinite(ci)) or np.any(ci <= 0):
        raise ValueError("votes_from_ci needs finite, positive CI half-widths")
    return np.asarray(np.rint((Z_95 * s / ci) ** 2), np.int64)


def mos_classes(
    mos_values: Sequence[float] | npt.ArrayLike,
    n_classes: int = 15,
    *,
    duplicates: Literal["raise", "drop"] = "raise",
) -> list[str]:
    """Quantile classes "Q1".."Q<n>" of the MOS, used to stratify the k-fold split.

    Reproduces ``pandas.qcut(mos, n_classes)`` exactly, which is how the Vinylset
    ``mosgroup`` column was made (all 620 rows match): edges are the linear-interpolated
    quantiles at 0, 1/n, ..., 1; bins are closed on the right, (e_{k-1}, e_k], and the
    lowest value joins Q1. When ties make two edges equal, ``duplicates="raise"`` (pandas'
    default) raises ValueError and ``"drop"`` merges the empty bins, giving fewer classes.
    """
    values = np.asarray(mos_values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("mos_classes needs a non-empty 1-D sequence of MOS values")
    if not np.all(np.isfinite(values)):
        raise ValueError("mos_classes needs finite MOS values")
    if n_classes < 1:
        raise ValueError("n_classes must be at least 1")
    edges = np.quantile(values, np.linspace(0.0, 1.0, n_classes + 1), method="linear")
    unique_edges = np.unique(edges)
    if unique_edges.size != edges.size:
        if duplicates == "raise":
            raise ValueError(
                f"MOS ties make {edges.size - unique_edges.size} class edges equal; "
                f"use fewer classes or duplicates='drop'"
            )
        edges = unique_edges
    # side="left" puts a value equal to an edge in the bin that edge closes (right-closed).
    index = np.searchsorted(edges, values, side="left")
    index[values == edges[0]] = 1
    return [f"Q{int(i)}" for i in index]


@dataclass(frozen=True)
class VinylsetFacts:
    """Summary facts of a Vinylset-style label table (`label`, `CI`, `std` columns)."""

    rows: int
    mos_mean: float
    mos_std: float
    mos_min: float
    mos_median: float
    mos_max: float
    ci_half_mean: float
    ci_full_mean: float
    votes_min: int
    votes_mean: float
    votes_max: int
    votes_total: int


def vinylset_facts(
    label: npt.ArrayLike, ci_half: npt.ArrayLike, std: npt.ArrayLike
) -> VinylsetFacts:
    """Derived facts of a Vinylset table: MOS distribution, mean CI (half and full width,
    the full width being the paper's PRA threshold tau) and vote counts recovered with
    `votes_from_ci`."""
    mos = np.asarray(label, dtype=float)
    ci = np.asarray(ci_half, dtype=float)
    n = votes_from_ci(ci, std)
    return VinylsetFacts(
        rows=int(mos.size),
        mos_mean=float(mos.mean()),
        mos_std=float(mos.std(ddof=1)),
        mos_min=float(mos.min()),
        mos_median=float(np.median(mos)),
        mos_max=float(mos.max()),
        ci_half_mean=float(ci.mean()),
        ci_full_mean=float(2.0 * ci.mean()),
        votes_min=int(n.min()),
        votes_mean=float(n.mean()),
        votes_max=int(n.max()),
        votes_total=int(n.sum()),
    )
