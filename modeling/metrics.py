"""Evaluation metrics of objective quality predictors: ITU-T P.1401 mapping, RMSE, PCC,
SRCC, and the pairwise ranking accuracy (PRA) of Ragano, Benetos & Hines (ICASSP 2023).

Pure numpy/scipy, per recording (the paper evaluates per recording, not per condition).

Choices made here (the paper leaves them open):
- Predictions are mapped with a monotonic (increasing) third-order polynomial fitted by
  least squares to the subjective MOS (P.1401's mapping, "adjusts for subjective test
  bias"; paper §6). `evaluate` reports the headline `rmse` and `pcc` on the MAPPED
  predictions, as the paper's Table 1 does ("The predictions are mapped ... "), and also
  the raw values (`rmse_raw`, `pcc_raw`). An in-sample fit makes the mapped PCC
  non-negative by construction (it is the square root of the fit's R²), which is why a
  model trained on random labels still scores PCC ≈ 0.2 in the paper; read `pcc_raw` when
  that matters.
- The mapped RMSE divides by N - d (P.1401 eq. 7-29), d = number of mapping coefficients
  (4 for third order); the raw RMSE divides by N.
- SRCC and PRA are computed on the raw predictions: a strictly increasing mapping leaves
  ranks and pair signs unchanged, and the raw values keep ties the mapping might create.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

FloatArray = NDArray[np.float64]

#: Points at which the mapping's derivative is constrained to be >= 0.
_MONOTONIC_GRID = 64


def _as_float_vector(x: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _pair(mos: ArrayLike, pred: ArrayLike) -> tuple[FloatArray, FloatArray]:
    y = _as_float_vector(mos, "mos")
    y_hat = _as_float_vector(pred, "pred")
    if y.shape != y_hat.shape:
        raise ValueError(f"mos has {y.size} values but pred has {y_hat.size}")
    return y, y_hat


def _is_constant(x: FloatArray) -> bool:
    return x.size == 0 or bool(np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())))


# ---------------------------------------------------------------------------------------
# ITU-T P.1401 mapping
# ---------------------------------------------------------------------------------------


def p1401_map(pred: ArrayLike, coefficients: ArrayLike) -> FloatArray:
    """Apply a polynomial mapping y' = b0 + b1·x + b2·x² + b3·x³ (P.1401 mapping function).

    `coefficients` are ordered from the constant term up, as `p1401_fit_third_order`
    returns them; any order works (a first-order fallback has two coefficients)."""
    x = _as_float_vector(pred, "pred")
    b = _as_float_vector(coefficients, "coefficients")
    return np.asarray(np.polynomial.polynomial.polyval(x, b), dtype=np.float64)


def _first_order(y_hat: FloatArray, y: FloatArray) -> FloatArray:
    """Least-squares line y ≈ b0 + b1·ŷ, slope clipped at 0 so the mapping never reverses
    the predictor's ranking; a constant predictor maps to mean(y)."""
    if _is_constant(y_hat):
        return np.array([float(y.mean())])
    slope, intercept = np.polyfit(y_hat, y, 1)
    if slope <= 0:
        return np.array([float(y.mean())])
    return np.array([intercept, slope], dtype=np.float64)


def _min_derivative(c: FloatArray, lo: float, hi: float) -> float:
    """Minimum of c1 + 2·c2·z + 3·c3·z² over [lo, hi] (endpoints or the parabola's vertex)."""
    candidates = [lo, hi]
    if c[3] != 0:
        vertex = -c[2] / (3 * c[3])
        if lo < vertex < hi:
            candidates.append(vertex)
    return float(min(c[1] + 2 * c[2] * z + 3 * c[3] * z**2 for z in candidates))


def p1401_fit_third_order(pred: ArrayLike, mos: ArrayLike) -> FloatArray:
    """Fit the monotonic third-order mapping of ITU-T P.1401 (2020) from predictions to MOS.

    Minimises Σ (y_i - (b0 + b1·ŷ_i + b2·ŷ_i² + b3·ŷ_i³))² subject to the derivative
    b1 + 2·b2·x + 3·b3·x² ≥ 0 on a grid of points spanning [min ŷ, max ŷ], i.e. the
    mapping is increasing over the range of the predictions (P.1401 requires a monotonic
    mapping; NISQA's `fit_monotonic_third_order` does the same with SLSQP). The fit runs
    on standardised predictions for conditioning, and the coefficients are converted back.

    Falls back to a first-order fit (two coefficients) when the cubic is ill-posed: fewer
    than 5 distinct predictions (4 coefficients need more points than unknowns) or a
    failed optimisation. A constant predictor, or one whose best increasing line is flat,
    gets the one-coefficient mapping ``[mean(mos)]``.

    Returns the coefficients from the constant term up; their count is the mapping's
    degrees of freedom d used by `rmse` (P.1401 eq. 7-29)."""
    y, y_hat = _pair(mos, pred)
    if y.size == 0:
        raise ValueError("cannot fit a mapping on zero predictions")
    if np.unique(y_hat).size < 5:
        return _first_order(y_hat, y)

    center, scale = float(y_hat.mean()), float(y_hat.std())
    z = (y_hat - center) / scale
    design = np.vander(z, 4, increasing=True)
    grid = np.linspace(z.min(), z.max(), _MONOTONIC_GRID)
    derivative = np.stack([np.zeros_like(grid), np.ones_like(grid), 2 * grid, 3 * grid**2], 1)

    unconstrained = np.asarray(np.linalg.lstsq(design, y, rcond=None)[0], dtype=np.float64)
    if _min_derivative(unconstrained, float(z.min()), float(z.max())) >= 0:
        c = unconstrained
    else:
        line = _first_order(z, y)
        start = np.zeros(4)
        start[: line.size] = line

        def sse(c: FloatArray) -> float:
            r = design @ c - y
            return float(r @ r)

        def sse_grad(c: FloatArray) -> FloatArray:
            return np.asarray(2 * design.T @ (design @ c - y), dtype=np.float64)

        res = optimize.minimize(
            sse,
            start,
            jac=sse_grad,
            method="SLSQP",
            constraints=[
                {"type": "ineq", "fun": lambda c: derivative @ c, "jac": lambda _: derivative}
            ],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        if not res.success or np.any(derivative @ res.x < -1e-8):
            return _first_order(y_hat, y)
        c = res.x.copy()
        # The grid constraint can leave a tiny dip between grid points: lift the slope by
        # the exact minimum of the derivative on the interval so monotonicity is exact.
        c[1] -= min(0.0, _min_derivative(c, float(z.min()), float(z.max())))

    # Substitute z = (x - center)/scale to express the polynomial in the raw predictions.
    in_x = np.polynomial.Polynomial(c)(np.polynomial.Polynomial([-center / scale, 1 / scale]))
    return np.asarray(in_x.coef, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# Per-recording metrics
# ---------------------------------------------------------------------------------------


def rmse(mos: ArrayLike, pred: ArrayLike, *, d: int = 0) -> float:
    """Root-mean-square error, sqrt(1/(N - d) · Σ (y_i - ŷ_i)²) (ITU-T P.1401 eq. 7-29).

    d is the number of degrees of freedom of the mapping applied to ŷ beforehand
    (0 for raw predictions, 4 for the third-order mapping). NaN when N - d < 1."""
    y, y_hat = _pair(mos, pred)
    if y.size - d < 1:
        return math.nan
    err = y - y_hat
    return float(np.sqrt(err @ err / (y.size - d)))


def pcc(mos: ArrayLike, pred: ArrayLike) -> float:
    """Pearson's linear correlation coefficient between MOS and predictions (P.1401 §7);
    NaN when either side is constant or there are fewer than 2 values."""
    y, y_hat = _pair(mos, pred)
    if y.size < 2 or _is_constant(y) or _is_constant(y_hat):
        return math.nan
    return float(stats.pearsonr(y, y_hat)[0])


def srcc(mos: ArrayLike, pred: ArrayLike) -> float:
    """Spearman's rank correlation coefficient (Pearson's r of the mid-ranks, ties
    averaged); NaN when either side is constant or there are fewer than 2 values."""
    y, y_hat = _pair(mos, pred)
    if y.size < 2 or _is_constant(y) or _is_constant(y_hat):
        return math.nan
    return float(stats.spearmanr(y, y_hat)[0])


# ---------------------------------------------------------------------------------------
# Pairwise ranking accuracy
# ---------------------------------------------------------------------------------------


def pra_tau(ci_half_widths: ArrayLike) -> float:
    """PRA threshold τ = (1/|D|) Σ_k CI_k over the TRAINING set D (paper §6), where CI_k is
    the FULL width of the k-th 95% confidence interval, i.e. 2 x the half-width
    1.96·s/√n that MOS tables (and Vinylset's `CI` column) store.

    On all 620 Vinylset tracks τ = 0.867 (the paper's "average CI ≈ 0.87")."""
    half = _as_float_vector(ci_half_widths, "ci_half_widths")
    if half.size == 0:
        raise ValueError("τ needs at least one confidence interval")
    if np.any(half < 0):
        raise ValueError("confidence-interval half-widths must be >= 0")
    return float(2.0 * half.mean())


@dataclass(frozen=True)
class PRAPairs:
    """The pairs that enter PRA, for the paper's Figure 2 pair plot.

    For each pair (i, j), i < j, with |y_i - y_j| > τ: `abs_delta_mos` = |y_i - y_j| (the
    x axis), `slope` = (ŷ_i - ŷ_j)/(y_i - y_j) (the y axis: > 0 concordant, < 0
    discordant, 0 a tie in prediction), and `score` = (sgn(Δy)·sgn(Δŷ) + 1)/2 ∈ {0, ½, 1}."""

    i: NDArray[np.int64]
    j: NDArray[np.int64]
    abs_delta_mos: FloatArray
    delta_pred: FloatArray
    slope: FloatArray
    score: FloatArray

    @property
    def concordant(self) -> NDArray[np.bool_]:
        return np.asarray(self.score == 1.0)

    @property
    def discordant(self) -> NDArray[np.bool_]:
        return np.asarray(self.score == 0.0)


def pra_pairs(mos: ArrayLike, pred: ArrayLike, tau: float) -> PRAPairs:
    """Every test pair i < j whose MOS differ by more than τ, with its PRA score."""
    y, y_hat = _pair(mos, pred)
    if not math.isfinite(tau) or tau < 0:
        raise ValueError(f"τ must be a finite number >= 0, got {tau}")
    i, j = np.triu_indices(y.size, k=1)
    delta_y = y[i] - y[j]
    keep = np.abs(delta_y) > tau
    i, j, delta_y = i[keep], j[keep], delta_y[keep]
    delta_pred = y_hat[i] - y_hat[j]
    score = (np.sign(delta_y) * np.sign(delta_pred) + 1.0) / 2.0
    return PRAPairs(
        i=i.astype(np.int64),
        j=j.astype(np.int64),
        abs_delta_mos=np.abs(delta_y),
        delta_pred=delta_pred,
        slope=delta_pred / delta_y,
        score=score,
    )


def pra(mos: ArrayLike, pred: ArrayLike, tau: float) -> float:
    """Pairwise ranking accuracy (Ragano et al., ICASSP 2023, §6):

        S = {(i, j) | |y_i - y_j| > τ},
        PRA = 1/|S| · Σ_{i<j, (i,j) ∈ S} (sgn(y_i - y_j)·sgn(ŷ_i - ŷ_j) + 1) / 2,

    so a concordant pair counts 1, a discordant pair 0, and a tie in prediction ½.
    Returns a fraction in [0, 1] (the paper prints percent); NaN when S is empty."""
    pairs = pra_pairs(mos, pred, tau)
    if pairs.score.size == 0:
        return math.nan
    return float(pairs.score.mean())


# ---------------------------------------------------------------------------------------
# One test set, and folds
# ---------------------------------------------------------------------------------------


def evaluate(
    mos: ArrayLike,
    pred: ArrayLike,
    train_ci_half: ArrayLike,
    *,
    map: bool = True,
    coefficients: ArrayLike | None = None,
) -> dict[str, float]:
    """All metrics of one test set, per recording.

    τ comes from the training set's CI half-widths (`pra_tau`). With `map=True` the
    predictions are mapped with `coefficients` when given (e.g. fitted on a validation
    set), else with a third-order mapping fitted on this test set, as P.1401 prescribes.
    Headline keys `rmse` and `pcc` are the mapped values when `map` is true, the raw
    values otherwise; `srcc` and `pra` are on raw predictions (see module docstring)."""
    y, y_hat = _pair(mos, pred)
    tau = pra_tau(train_ci_half)
    result: dict[str, float] = {
        "n": float(y.size),
        "tau": tau,
        "rmse_raw": rmse(y, y_hat),
        "pcc_raw": pcc(y, y_hat),
        "srcc": srcc(y, y_hat),
        "pra": pra(y, y_hat, tau),
        "pra_pairs": float(pra_pairs(y, y_hat, tau).score.size),
    }
    if map:
        b = (
            p1401_fit_third_order(y_hat, y)
            if coefficients is None
            else _as_float_vector(coefficients, "coefficients")
        )
        mapped = p1401_map(y_hat, b)
        result["rmse_mapped"] = rmse(y, mapped, d=b.size)
        result["pcc_mapped"] = pcc(y, mapped)
        result["mapping_order"] = float(b.size - 1)
        result["rmse"] = result["rmse_mapped"]
        result["pcc"] = result["pcc_mapped"]
    else:
        result["rmse"] = result["rmse_raw"]
        result["pcc"] = result["pcc_raw"]
    return result


def mean_std_over_folds(
    fold_metrics: Sequence[Mapping[str, float]], *, ddof: int = 0
) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of every metric present in all folds ("mean ± std"
    of the paper's Tables 1 and 2). `ddof=0` (numpy's default) because the paper does
    not say; NaN values propagate so an undefined fold metric is visible."""
    if not fold_metrics:
        raise ValueError("no folds to summarise")
    keys = [k for k in fold_metrics[0] if all(k in m for m in fold_metrics)]
    summary: dict[str, dict[str, float]] = {}
    for key in keys:
        values = np.array([float(m[key]) for m in fold_metrics])
        std = float(values.std(ddof=ddof)) if values.size > ddof else math.nan
        summary[key] = {"mean": float(values.mean()), "std": std}
    return summary
