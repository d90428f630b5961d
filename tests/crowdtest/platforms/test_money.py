"""Cost arithmetic, by hand: MTurk's 20% / 40% fee tiers, Prolific's fee, the paper's
bonus, and the amount format the platforms take."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crowdtest.platforms.errors import PlatformError
from crowdtest.platforms.money import (
    amount_text,
    bonus_raters_at_most,
    estimate,
    hit_sizes,
    mturk_fee,
    prolific_fee_rate,
)

D = Decimal


def test_hits_of_9_assignments_pay_20_percent_and_of_10_pay_40() -> None:
    assert mturk_fee(D("0.50"), assignments_per_hit=9) == D("0.10")
    assert mturk_fee(D("0.50"), assignments_per_hit=10) == D("0.20")
    assert mturk_fee(D("0.01"), assignments_per_hit=1) == D("0.01")  # at least a cent


@pytest.mark.parametrize(
    ("per_hit", "fees", "total"),
    [
        # 18 sessions x $0.50 = $9.00; fees 18 x $0.10; bonus at most 1 x ($0.10 + 20%)
        (9, D("1.80"), D("10.92")),
        # the same 18 sessions in HITs of 10 and 8: 10 x $0.20 + 8 x $0.10
        (10, D("2.80"), D("11.92")),
    ],
)
def test_a_batch_costs_rewards_fees_and_the_papers_bonus(
    per_hit: int, fees: Decimal, total: Decimal
) -> None:
    cost = estimate(
        platform="mturk",
        sessions=18,
        reward=D("0.50"),
        bonus=D("0.10"),
        bonus_after=15,
        per_hit=per_hit,
    )
    by_label = {line.label: line for line in cost.lines}
    assert by_label["Rewards"].total == D("9.00")
    assert sum(line.total for line in cost.lines if line.label.startswith("MTurk fee")) == fees
    bonus = next(line for line in cost.lines if line.label.startswith("Bonuses"))
    assert (bonus.count, bonus.total) == (1, D("0.10"))
    assert cost.total == total
    assert "40%" in cost.fee_rule and "10 or more" in cost.fee_rule


def test_the_papers_822_sessions_on_mturk() -> None:
    cost = estimate(
        platform="mturk", sessions=822, reward=D("0.50"), bonus=D("0.10"), bonus_after=15
    )
    # $411 rewards + $82.20 fees (HITs of 9) + at most 51 bonuses of $0.10 + $0.02
    assert cost.total == D("411.00") + D("82.20") + 51 * D("0.12")
    assert "Total (at most): $499.32" in cost.text()


def test_hit_sizes() -> None:
    assert hit_sizes(20, 9) == [9, 9, 2]
    assert hit_sizes(18, 9) == [9, 9]
    assert hit_sizes(0, 9) == []


def test_at_most_one_bonus_per_16_sessions() -> None:
    assert bonus_raters_at_most(15, bonus_after=15) == 0
    assert bonus_raters_at_most(16, bonus_after=15) == 1
    assert bonus_raters_at_most(100, bonus_after=15) == 6


def test_prolific_fee_and_vat(monkeypatch: pytest.MonkeyPatch) -> None:
    assert prolific_fee_rate() == D("0.333")
    monkeypatch.setenv("PROLIFIC_VAT_RATE", "0.20")
    assert prolific_fee_rate() == D("0.3996")
    cost = estimate(
        platform="prolific",
        sessions=10,
        reward=D("2.00"),
        bonus=D("0.10"),
        bonus_after=15,
        minutes=10,
    )
    fee = next(line for line in cost.lines if line.label.startswith("Prolific fee"))
    assert (fee.unit, fee.total) == (D("0.80"), D("8.00"))
    assert cost.total == D("28.00")
    monkeypatch.setenv("PROLIFIC_FEE_RATE", "lots")
    with pytest.raises(PlatformError, match="PROLIFIC_FEE_RATE"):
        prolific_fee_rate()


def test_prolific_warns_below_its_hourly_minimum() -> None:
    cost = estimate(
        platform="prolific",
        sessions=10,
        reward=D("0.50"),
        bonus=D("0.10"),
        bonus_after=15,
        minutes=11,
    )
    assert any("below Prolific's minimum" in w for w in cost.warnings)


def test_direct_links_cost_nothing_through_crowdtest() -> None:
    cost = estimate(platform="link", sessions=10, reward=D("0.50"), bonus=D("0.10"), bonus_after=15)
    assert cost.total == 0


@pytest.mark.parametrize("bad", ["0.5", "0", "1.", "", "-1.00", "0.00", "1,50", "$0.50", "0.505"])
def test_amounts_the_service_model_would_let_through_are_refused(bad: str) -> None:
    with pytest.raises(PlatformError, match="two decimals"):
        amount_text(bad)


def test_a_good_amount() -> None:
    assert amount_text("0.50") == "0.50"
    assert amount_text(D("12.30")) == "12.30"
