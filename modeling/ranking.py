"""Ranking the versions of one work from paired preferences: the Bradley-Terry model
fitted with `choix`, bootstrap confidence intervals, the probability that the top version
is really the best, and the most informative pair to ask about next.

Bradley-Terry (Bradley & Terry 1952): version i is preferred to version j with
probability ``P(i > j) = 1 / (1 + exp(-(s_i - s_j)))``, ``s`` the log-strengths, fitted by
maximum likelihood (choix's ILSR, Maystre & Grossglauser 2015) with a small L2 penalty
`alpha` so that a version that won or lost every comparison keeps a finite strength.
Strengths are identified up to a constant: they are reported centred (mean 0).

Uncertainty comes from a nonparametric bootstrap over the comparisons: refit on
comparisons drawn with replacement, report the 2.5 and 97.5 percentiles of each strength,
and count how often the full fit's top version is the bootstrap's top: the probability,
given the judgements collected, that the top version is really the best.

The next pair (adaptive collection) is the one whose answer is expected to shrink the
uncertainty of the strength differences most, under the Laplace approximation of the
fit: the Fisher information of one comparison of (i, j) is ``p (1 - p)`` along
``e_i - e_j``, so its value is ``p_ij (1 - p_ij) * Var(s_i - s_j)``, the variance from
the inverse of the penalised Fisher information of the comparisons so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import choix
import numpy as np
import numpy.typing as npt

Comparison = tuple[int, int]  # (winner, loser), indices of versions
ALPHA = 0.01


def bradley_terry(
    n_items: int, comparisons: Sequence[Comparison], *, alpha: float = ALPHA
) -> npt.NDArray[np.float64]:
    """Centred Bradley-Terry log-strengths of `n_items` versions from (winner, loser)
    comparisons."""
    if n_items < 2:
        raise ValueError("a ranking needs at least two versions")
    for winner, loser in comparisons:
        if winner == loser or not (0 <= winner < n_items and 0 <= loser < n_items):
            raise ValueError(f"bad comparison ({winner}, {loser}) of {n_items} versions")
    if not comparisons:
        return np.zeros(n_items)
    strengths = np.asarray(
        choix.ilsr_pairwise(n_items, list(comparisons), alpha=alpha), dtype=np.float64
    )
    centred: npt.NDArray[np.float64] = strengths - strengths.mean()
    return centred


@dataclass(frozen=True)
class Ranking:
    """Versions' strengths with 95% bootstrap CIs, best first in `order`, and the
    probability that `order[0]` is really the best."""

    strengths: npt.NDArray[np.float64]
    ci_low: npt.NDArray[np.float64]
    ci_high: npt.NDArray[np.float64]
    order: list[int]
    p_top_best: float
    wins: npt.NDArray[np.int64]
    comparisons: npt.NDArray[np.int64]


def rank_versions(
    n_items: int,
    comparisons: Sequence[Comparison],
    *,
    n_boot: int = 500,
    seed: int | np.random.Generator = 0,
    alpha: float = ALPHA,
) -> Ranking:
    """The Bradley-Terry ranking with bootstrap CIs (see the module's docstring)."""
    strengths = bradley_terry(n_items, comparisons, alpha=alpha)
    order = [int(i) for i in np.argsort(-strengths, kind="stable")]
    data = np.asarray(comparisons, dtype=np.int64).reshape(-1, 2)
    wins = np.bincount(data[:, 0], minlength=n_items)
    seen = wins + np.bincount(data[:, 1], minlength=n_items)
    if len(data) == 0:
        zeros = np.zeros(n_items)
        return Ranking(zeros, zeros, zeros, order, 1.0 / n_items, wins, seen)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, n_items))
    for b in range(n_boot):
        drawn = data[rng.integers(0, len(data), len(data))]
        boots[b] = bradley_terry(n_items, [(int(w), int(lo)) for w, lo in drawn], alpha=alpha)
    low, high = np.percentile(boots, [2.5, 97.5], axis=0)
    top = np.argmax(boots, axis=1)
    return Ranking(
        strengths=strengths,
        ci_low=low,
        ci_high=high,
        order=order,
        p_top_best=float(np.mean(top == order[0])),
        wins=wins,
        comparisons=seen,
    )


def next_pair(
    n_items: int,
    comparisons: Sequence[Comparison],
    *,
    alpha: float = ALPHA,
    exclude: Sequence[Comparison] = (),
) -> Comparison:
    """The pair (i, j), i < j, whose comparison is expected to tell most (see the
    module's docstring); among equals, the pair compared least, then the lowest indices.
    `exclude`: pairs not to ask (e.g. already in the rater's session)."""
    strengths = bradley_terry(n_items, comparisons, alpha=alpha)
    information = alpha * np.eye(n_items)
    counts = np.zeros((n_items, n_items), dtype=np.int64)
    for winner, loser in comparisons:
        i, j = min(winner, loser), max(winner, loser)
        counts[i, j] += 1
        p = 1.0 / (1.0 + np.exp(-(strengths[i] - strengths[j])))
        direction = np.zeros(n_items)
        direction[i], direction[j] = 1.0, -1.0
        information += p * (1 - p) * np.outer(direction, direction)
    covariance = np.linalg.pinv(information)
    skipped = {(min(a, b), max(a, b)) for a, b in exclude}
    best: tuple[float, int, int, int] | None = None
    for i in range(n_items):
        for j in range(i + 1, n_items):
            if (i, j) in skipped:
                continue
            p = 1.0 / (1.0 + np.exp(-(strengths[i] - strengths[j])))
            spread = covariance[i, i] + covariance[j, j] - 2 * covariance[i, j]
            value = round(float(p * (1 - p) * spread), 9)
            key = (-value, int(counts[i, j]), i, j)
            if best is None or key < best:
                best = key
    if best is None:
        raise ValueError("every pair is excluded")
    return best[2], best[3]


def kendall_tau(order: Sequence[int], truth: Sequence[int]) -> float:
    """Kendall's tau-a between two orderings of the same versions (1: the same order,
    -1: reversed): (concordant - discordant) / (n (n - 1) / 2)."""
    if sorted(order) != sorted(truth):
        raise ValueError("the two orders must hold the same versions")
    rank = {item: position for position, item in enumerate(truth)}
    ranked = [rank[item] for item in order]
    n = len(ranked)
    if n < 2:
        return 1.0
    score = sum(1 if ranked[a] < ranked[b] else -1 for a in range(n) for b in range(a + 1, n))
    return score / (n * (n - 1) / 2)
