"""MOS statistics: hand-computed cases, then the published Vinylset labels."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from modeling.mos import (
    ci_half_width_normal,
    ci_half_width_t,
    mos_by_stimulus,
    mos_classes,
    mos_summary,
    vinylset_facts,
    votes_from_ci,
)

# The published Vinylset labels, kept in the repository for tests that need no audio.
VINYLSET = Path(__file__).resolve().parents[1] / "data" / "vinylset_MOS.csv"


def test_summary_of_one_to_five() -> None:
    # mean 3; sum of squared deviations 10, so s^2 = 10/4 = 2.5
    summary = mos_summary([1, 2, 3, 4, 5])
    assert summary.mos == 3.0
    assert summary.n == 5
    assert summary.std == pytest.approx(math.sqrt(2.5))
    # 1.96 * sqrt(2.5) / sqrt(5) = 1.96 * sqrt(0.5)
    assert summary.ci95_normal == pytest.approx(1.96 * math.sqrt(0.5))
    # t(0.975, 4) = 2.776445
    assert summary.ci95_t == pytest.approx(2.776445 * math.sqrt(0.5), rel=1e-6)


def test_summary_of_unanimous_votes_has_zero_spread() -> None:
    summary = mos_summary([4, 4, 4])
    assert (summary.mos, summary.std, summary.ci95_normal, summary.ci95_t) == (4.0, 0.0, 0.0, 0.0)


def test_summary_of_a_single_vote_has_no_spread() -> None:
    summary = mos_summary([3])
    assert summary.mos == 3.0
    assert summary.n == 1
    assert summary.std is None
    assert summary.ci95_normal is None
    assert summary.ci95_t is None


def test_summary_needs_a_vote() -> None:
    with pytest.raises(ValueError, match="at least one vote"):
        mos_summary([])


def test_mos_by_stimulus_groups_votes() -> None:
    table = mos_by_stimulus(["a", "b", "a", "a", "b"], [5, 2, 4, 3, 2])
    assert table["a"].mos == 4.0
    assert table["a"].n == 3
    assert table["a"].std == pytest.approx(1.0)
    assert table["b"].mos == 2.0
    assert table["b"].std == 0.0


def test_ci_half_widths_are_vectorised_and_undefined_below_two_votes() -> None:
    normal = ci_half_width_normal([1.0, 1.0, 2.0], [1, 16, 4])
    assert math.isnan(normal[0])
    assert normal[1:] == pytest.approx([1.96 / 4, 1.96])
    t = ci_half_width_t([1.0, 2.0], [1, 4])
    assert math.isnan(t[0])
    assert t[1] == pytest.approx(3.182446 * 2.0 / 2.0, rel=1e-6)  # t(0.975, 3) = 3.182446


def test_t_interval_is_wider_than_normal_and_converges() -> None:
    n = np.array([2, 5, 15, 1000])
    ratio = ci_half_width_t(1.0, n) / ci_half_width_normal(1.0, n)
    assert np.all(ratio > 1.0)
    assert ratio[-1] == pytest.approx(1.0, abs=0.002)


def test_votes_from_ci_inverts_the_normal_interval() -> None:
    assert votes_from_ci(0.49, 1.0) == 16  # 1.96 / sqrt(16)
    std = np.array([0.5, 1.2, 0.9])
    n = np.array([10, 15, 21])
    assert votes_from_ci(ci_half_width_normal(std, n), std).tolist() == [10, 15, 21]
    with pytest.raises(ValueError, match="positive"):
        votes_from_ci([0.0], [1.0])


def test_mos_classes_split_into_equal_quantile_bins() -> None:
    # edges at 1, 2.8, 4.6, 6.4, 8.2, 10
    expected = [f"Q{k}" for k in (1, 1, 2, 2, 3, 3, 4, 4, 5, 5)]
    assert mos_classes(np.arange(1, 11), 5) == expected


def test_mos_classes_are_closed_on_the_right() -> None:
    # edges 1, 2, 3: the 2 closes the first bin, as in pandas.qcut
    assert mos_classes([3.0, 1.0, 2.0], 2) == ["Q2", "Q1", "Q1"]


def test_mos_classes_with_tied_edges() -> None:
    with pytest.raises(ValueError, match="class edges equal"):
        mos_classes([1, 1, 1, 1, 2], 4)
    assert mos_classes([1, 1, 1, 1, 2], 4, duplicates="drop") == ["Q1"] * 5


def test_mos_classes_reject_empty_input() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        mos_classes([], 3)


@pytest.fixture(scope="module")
def vinylset() -> list[dict[str, str]]:
    with VINYLSET.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _column(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return np.array([float(row[name]) for row in rows])


def test_vinylset_facts(vinylset: list[dict[str, str]]) -> None:
    facts = vinylset_facts(
        _column(vinylset, "label"), _column(vinylset, "CI"), _column(vinylset, "std")
    )
    assert facts.rows == 620
    assert facts.mos_mean == pytest.approx(3.782, abs=5e-4)
    assert facts.mos_std == pytest.approx(0.349, abs=5e-4)
    assert (facts.mos_min, facts.mos_max) == pytest.approx((2.533, 4.667), abs=5e-4)
    assert facts.mos_median == pytest.approx(3.806, abs=5e-4)
    assert facts.ci_half_mean == pytest.approx(0.434, abs=5e-4)
    assert facts.ci_full_mean == pytest.approx(0.867, abs=5e-4)
    assert (facts.votes_min, facts.votes_max, facts.votes_total) == (10, 21, 9382)
    assert facts.votes_mean == pytest.approx(15.13, abs=5e-3)


def test_vinylset_ci_recomputes_from_std_and_recovered_votes(
    vinylset: list[dict[str, str]],
) -> None:
    std, ci = _column(vinylset, "std"), _column(vinylset, "CI")
    n = votes_from_ci(ci, std)
    recomputed = ci_half_width_normal(std, n)
    mismatched = np.flatnonzero(~np.isclose(recomputed, ci, rtol=1e-9))
    # One row's CI is inconsistent with its own MOS and std: MOS 3.94118 = 67/17 and its
    # std fit 17 integer votes, but its CI corresponds to n = 18.79 (rounded to 19).
    assert [vinylset[i]["label"] for i in mismatched] == ["3.94118"]


def test_vinylset_mosgroup_is_reproduced_exactly(vinylset: list[dict[str, str]]) -> None:
    classes = mos_classes(_column(vinylset, "label"), 15)
    assert classes == [row["mosgroup"] for row in vinylset]
    sizes = Counter(classes).values()
    assert (min(sizes), max(sizes)) == (27, 54)
