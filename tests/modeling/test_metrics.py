"""Hand-computed checks of the P.1401 mapping, RMSE/PCC/SRCC and PRA."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeling import metrics


def test_rmse_by_hand() -> None:
    # errors 0, 0, -2: sqrt(4/3); with d = 1 degrees of freedom sqrt(4/2)
    assert metrics.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert metrics.rmse([1, 2, 3], [1, 2, 5], d=1) == pytest.approx(math.sqrt(2))
    assert math.isnan(metrics.rmse([1, 2], [1, 2], d=2))


def test_pcc_and_srcc_by_hand() -> None:
    # deviations (-1, 0, 1) and (-1, 1, 0): covariance 1, variances 2 and 2 -> r = 0.5
    assert metrics.pcc([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert metrics.srcc([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert metrics.srcc([1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)
    assert math.isnan(metrics.pcc([1, 2, 3], [2, 2, 2]))


def test_metrics_reject_mismatched_or_nan_input() -> None:
    with pytest.raises(ValueError, match="3 values but pred has 2"):
        metrics.rmse([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.pcc([1, 2, float("nan")], [1, 2, 3])


MOS = [1.0, 2.0, 3.0, 3.2]


def test_pra_by_hand() -> None:
    # tau = 0.5 keeps 5 of the 6 pairs (3.0 vs 3.2 differs by only 0.2).
    # pred (1, 3, 2, 2): pairs (0,1) (0,2) (0,3) concordant, (1,2) (1,3) discordant.
    assert metrics.pra(MOS, [1, 3, 2, 2], 0.5) == pytest.approx(3 / 5)
    # pred (1, 2, 2, 2): (1,2) and (1,3) are ties in prediction and count 1/2 each.
    assert metrics.pra(MOS, [1, 2, 2, 2], 0.5) == pytest.approx(4 / 5)
    # tau = 1.0: a MOS difference of exactly tau is excluded (strict >), leaving
    # (0,2) (0,3) concordant and (1,3) discordant.
    assert metrics.pra(MOS, [1, 3, 2, 2], 1.0) == pytest.approx(2 / 3)
    # No pair differs by more than 5.
    assert math.isnan(metrics.pra(MOS, [1, 3, 2, 2], 5.0))


def test_pra_is_symmetric_in_item_order() -> None:
    order = [3, 1, 0, 2]
    pred = [1, 3, 2, 2]
    shuffled = metrics.pra([MOS[i] for i in order], [pred[i] for i in order], 0.5)
    assert shuffled == pytest.approx(metrics.pra(MOS, pred, 0.5))


def test_pra_pairs_for_the_pair_plot() -> None:
    pairs = metrics.pra_pairs(MOS, [1, 3, 2, 2], 0.5)
    assert list(zip(pairs.i.tolist(), pairs.j.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]
    assert pairs.abs_delta_mos.tolist() == pytest.approx([1.0, 2.0, 2.2, 1.0, 1.2])
    # slope of (0,1): (1 - 3) / (1 - 2) = 2; of (1,2): (3 - 2) / (2 - 3) = -1
    assert pairs.slope[0] == pytest.approx(2.0)
    assert pairs.slope[3] == pytest.approx(-1.0)
    assert pairs.concordant.tolist() == [True, True, True, False, False]
    assert pairs.discordant.tolist() == [False, False, False, True, True]


def test_pra_tau_is_the_mean_full_ci_width() -> None:
    assert metrics.pra_tau([0.4, 0.5]) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        metrics.pra_tau([])


def _distorted(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mos = rng.uniform(2.5, 4.7, 200)
    pred = np.exp(mos - 3.0) + rng.normal(0, 0.05, mos.size)  # monotonic distortion
    return mos, pred


def test_p1401_mapping_reduces_rmse_and_is_monotonic() -> None:
    mos, pred = _distorted()
    b = metrics.p1401_fit_third_order(pred, mos)
    assert b.size == 4
    mapped = metrics.p1401_map(pred, b)
    assert metrics.rmse(mos, mapped, d=4) < 0.5 * metrics.rmse(mos, pred)
    grid = np.linspace(pred.min(), pred.max(), 2001)
    assert np.all(np.diff(metrics.p1401_map(grid, b)) >= -1e-9)


def test_p1401_mapping_constrains_a_non_monotonic_least_squares_fit() -> None:
    # MOS rises then falls with the prediction: the free cubic would turn down.
    x = np.linspace(0.0, 1.0, 60)
    mos = 3.0 + np.sin(2.5 * x)
    b = metrics.p1401_fit_third_order(x, mos)
    free = np.polynomial.polynomial.polyfit(x, mos, 3)
    grid = np.linspace(0.0, 1.0, 2001)
    assert np.any(np.diff(np.polynomial.polynomial.polyval(grid, free)) < 0)
    assert np.all(np.diff(metrics.p1401_map(grid, b)) >= -1e-9)
    line = np.polynomial.polynomial.polyfit(x, mos, 1)  # increasing, hence feasible
    sse = float(np.sum((metrics.p1401_map(x, b) - mos) ** 2))
    assert sse <= float(np.sum((np.polynomial.polynomial.polyval(x, line) - mos) ** 2)) + 1e-9


def test_p1401_mapping_falls_back_when_the_cubic_is_ill_posed() -> None:
    assert metrics.p1401_fit_third_order([1, 2, 3, 1, 2], [1, 2, 3, 1, 2]).tolist() == (
        pytest.approx([0.0, 1.0])
    )
    assert metrics.p1401_fit_third_order([2, 2, 2], [1, 2, 3]).tolist() == pytest.approx([2.0])
    # anti-correlated: the best increasing mapping is flat
    assert metrics.p1401_fit_third_order([3, 2, 1], [1, 2, 3]).tolist() == pytest.approx([2.0])


def test_evaluate_reports_mapped_and_raw_metrics() -> None:
    mos, pred = _distorted()
    result = metrics.evaluate(mos, pred, train_ci_half=[0.2, 0.3])
    assert result["tau"] == pytest.approx(0.5)
    assert result["rmse"] == result["rmse_mapped"] < result["rmse_raw"]
    assert result["pcc"] == result["pcc_mapped"]
    assert result["pra"] == pytest.approx(metrics.pra(mos, pred, 0.5))
    assert result["srcc"] == pytest.approx(metrics.srcc(mos, pred))
    assert result["mapping_order"] == 3
    raw = metrics.evaluate(mos, pred, train_ci_half=[0.2, 0.3], map=False)
    assert raw["rmse"] == raw["rmse_raw"]
    assert "rmse_mapped" not in raw
    identity = metrics.evaluate(mos, pred, [0.25], coefficients=[0.0, 1.0])
    assert identity["rmse_mapped"] == pytest.approx(metrics.rmse(mos, pred, d=2))


def test_mean_std_over_folds_by_hand() -> None:
    summary = metrics.mean_std_over_folds([{"rmse": 1.0, "x": 5.0}, {"rmse": 3.0}])
    assert summary == {"rmse": {"mean": 2.0, "std": 1.0}}
    assert metrics.mean_std_over_folds([{"a": 1.0}, {"a": 3.0}], ddof=1)["a"]["std"] == (
        pytest.approx(math.sqrt(2))
    )
