"""How far the crowd's ratings agree: inter-rater reliability of a set of ACR votes, each
with a 95% bootstrap confidence interval.

- Krippendorff's alpha for ordinal data (the `krippendorff` package), from the votes'
  value counts per stimulus: a stimulus is a unit, its votes the coders' values. Raters
  who each rate a few stimuli of many (a crowdsourced design) are handled as the
  coefficient intends: only pairs of votes within a unit are compared.
- Split-half reliability: each stimulus's votes are split at random into two halves, the
  MOS of one half is correlated (Pearson) with the other's over the stimuli, and the
  Spearman-Brown formula, 2r / (1 + r), brings it to the reliability of the full vote
  count. The estimate is the mean over `splits` random splits.

The intervals resample the stimuli with replacement (`resamples` times) and take the 2.5th
and 97.5th percentiles: stimuli are what a listening test samples, and votes on one
stimulus are not independent of each other's ratings. Only stimuli with at least two votes
carry information about agreement; the others are left out and counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import krippendorff
import numpy as np
import numpy.typing as npt

SCALE = (1, 2, 3, 4, 5)  # the ACR scale
RESAMPLES = 200
SPLITS = 100


@dataclass(frozen=True)
class Estimate:
    """A coefficient with its 95% bootstrap interval (None where it is undefined)."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Reliability:
    stimuli: int  # with two votes or more: those the coefficients use
    stimuli_left_out: int  # with a single vote
    votes: int
    alpha: Estimate  # Krippendorff's alpha, ordinal
    split_half: Estimate  # Spearman-Brown corrected split-half correlation

    def as_json(self) -> dict[str, object]:
        return {
            "stimuli": self.stimuli,
            "stimuli_left_out": self.stimuli_left_out,
            "votes": self.votes,
            "krippendorff_alpha_ordinal": _estimate_json(self.alpha),
            "split_half_spearman_brown": _estimate_json(self.split_half),
            "interval": f"95% bootstrap over stimuli, {RESAMPLES} resamples",
        }


def _estimate_json(estimate: Estimate) -> dict[str, float | None]:
    def rounded(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {
        "value": rounded(estimate.value),
        "low": rounded(estimate.low),
        "high": rounded(estimate.high),
    }


def value_counts(votes: Mapping[Any, Sequence[int]]) -> npt.NDArray[np.int64]:
    """Units x ACR categories: how many votes of each score every stimulus got."""
    counts = np.zeros((len(votes), len(SCALE)), dtype=np.int64)
    for row, scores in enumerate(votes.values()):
        for score in scores:
            if score not in SCALE:
                raise ValueError(f"{score!r} is not an ACR score (1-5)")
            counts[row, int(score) - 1] += 1
    return counts


def alpha_ordinal(counts: npt.NDArray[np.int64]) -> float | None:
    """Krippendorff's alpha (ordinal) of a units x categories count table; None when it
    is undefined (fewer than two units with pairable votes, or no variation at all)."""
    pairable = counts[counts.sum(axis=1) >= 2]
    if len(pairable) < 2 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return None
    value = krippendorff.alpha(
        value_counts=pairable, value_domain=list(SCALE), level_of_measurement="ordinal"
    )
    return float(value) if np.isfinite(value) else None


class _Halves:
    """The votes of every stimulus, flattened, for drawing random half-splits fast."""

    def __init__(self, votes: Sequence[Sequence[int]]) -> None:
        sizes = np.array([len(v) for v in votes], dtype=np.int64)
        self.n_stimuli = len(votes)
        self.stimulus = np.repeat(np.arange(self.n_stimuli), sizes)
        self.scores = np.concatenate([np.asarray(v, dtype=float) for v in votes])
        self.start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.half = sizes // 2

    def draw(self, rng: np.random.Generator) -> tuple[npt.NDArray[np.float64], ...]:
        """Each stimulus's votes in random order, split in two: the MOS of each half."""
        order = np.argsort(self.stimulus + rng.random(self.scores.size))  # shuffled within
        stimulus, scores = self.stimulus[order], self.scores[order]
        first = (np.arange(scores.size) - self.start[stimulus]) < self.half[stimulus]
        size = self.n_stimuli
        a = np.bincount(stimulus[first], scores[first], size) / self.half
        rest = np.bincount(stimulus[~first], minlength=size)
        b = np.bincount(stimulus[~first], scores[~first], size) / rest
        return a, b


def _spearman_brown(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float | None:
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return None
    r = float(np.corrcoef(a, b)[0, 1])
    return 2 * r / (1 + r) if r > -1 else None


def reliability(
    votes: Mapping[Any, Sequence[int]],
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
    splits: int = SPLITS,
) -> Reliability:
    """Krippendorff's alpha and split-half reliability of the votes on each stimulus, with
    95% bootstrap intervals over the stimuli (the resamples take the random splits in turn)."""
    rng = np.random.default_rng(seed)
    kept = [list(v) for v in votes.values() if len(v) >= 2]
    counts = value_counts(dict(enumerate(kept)))
    alpha = alpha_ordinal(counts)
    half: float | None = None
    alphas: list[float] = []
    halves: list[float] = []
    if len(kept) >= 3:
        halves_of = _Halves(kept)
        draws = [halves_of.draw(rng) for _ in range(max(1, splits))]
        found = [x for x in (_spearman_brown(a, b) for a, b in draws) if x is not None]
        half = float(np.mean(found)) if found else None
        for i in range(resamples):
            pick = rng.integers(0, len(kept), len(kept))
            a = alpha_ordinal(counts[pick])
            if a is not None:
                alphas.append(a)
            first, second = draws[i % len(draws)]  # the splits drawn above, in turn
            h = _spearman_brown(first[pick], second[pick])
            if h is not None:
                halves.append(h)
    return Reliability(
        stimuli=len(kept),
        stimuli_left_out=len(votes) - len(kept),
        votes=int(counts.sum()),
        alpha=_with_interval(alpha, alphas),
        split_half=_with_interval(half, halves),
    )


def _with_interval(value: float | None, samples: list[float]) -> Estimate:
    if value is None or len(samples) < 20:
        return Estimate(value, None, None)
    low, high = np.percentile(samples, [2.5, 97.5])
    return Estimate(value, float(low), float(high))
