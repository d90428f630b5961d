"""What a batch of sessions costs: rewards, the platform's fees and the paper's bonuses,
in exact decimals (US dollars, rounded to the cent as the platforms do).

Pure functions: the Platform page, `publish` and `pay` show the same arithmetic.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import PlatformError

CENT = Decimal("0.01")
_AMOUNT = re.compile(r"\d{1,6}\.\d{2}")

# MTurk's commission (requester pricing since July 2015): 20% of the reward and of every
# bonus, at least $0.01 each; HITs with 10 or more assignments pay 20% more, 40% in all.
# Splitting a batch into HITs of at most 9 assignments keeps it at 20%.
MTURK_FEE = Decimal("0.20")
MTURK_FEE_LARGE_HIT = Decimal("0.40")
MTURK_LARGE_HIT_ASSIGNMENTS = 10
MTURK_MIN_FEE = Decimal("0.01")

# Prolific's service fee on rewards and bonuses: 33.3% for most researcher accounts
# (lower for some academic and enterprise plans). UK and EU accounts pay VAT on the fee
# (e.g. 20% in the UK). Set PROLIFIC_FEE_RATE / PROLIFIC_VAT_RATE in the environment
# when your contract differs.
PROLIFIC_SERVICE_FEE = Decimal("0.333")
PROLIFIC_VAT = Decimal("0")
# Prolific refuses studies paying less than this per hour (its minimum, $8.00 / £6.00).
PROLIFIC_MIN_HOURLY_USD = Decimal("8.00")


def usd(value: str | Decimal | int | float) -> Decimal:
    """A dollar amount rounded to the cent."""
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise PlatformError(f"'{value}' is not an amount of money.") from exc


def amount_text(value: str | Decimal, *, what: str = "amount") -> str:
    """A reward or bonus as the platforms take it: a string with two decimals, more than
    zero ("0.50"). MTurk's own model only checks ^[0-9]+(\\.)?[0-9]{0,2}$, which lets
    "", "0" and "1." through; we refuse them before anything is sent."""
    text = value if isinstance(value, str) else f"{value:.2f}"
    if not _AMOUNT.fullmatch(text) or Decimal(text) <= 0:
        raise PlatformError(
            f'The {what} must be a positive dollar amount with two decimals, like "0.50" '
            f"(got {text!r})."
        )
    return text


def _rate_from_env(name: str, default: Decimal) -> Decimal:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise PlatformError(f"{name} must be a fraction such as 0.333 (got {raw!r}).") from None
    if not 0 <= rate < 1:
        raise PlatformError(f"{name} must be a fraction from 0 to 1 (got {raw}).")
    return rate


def prolific_fee_rate() -> Decimal:
    """The service fee with VAT on it, as a fraction of what participants receive."""
    fee = _rate_from_env("PROLIFIC_FEE_RATE", PROLIFIC_SERVICE_FEE)
    vat = _rate_from_env("PROLIFIC_VAT_RATE", PROLIFIC_VAT)
    return fee * (1 + vat)


def mturk_fee_rate(assignments_per_hit: int) -> Decimal:
    return MTURK_FEE_LARGE_HIT if assignments_per_hit >= MTURK_LARGE_HIT_ASSIGNMENTS else MTURK_FEE


def mturk_fee(amount: Decimal, *, assignments_per_hit: int) -> Decimal:
    """MTurk's commission on one reward (in a HIT of that many assignments) or bonus."""
    return max(usd(amount * mturk_fee_rate(assignments_per_hit)), MTURK_MIN_FEE)


def hit_sizes(sessions: int, per_hit: int) -> list[int]:
    """Assignments of each HIT when `sessions` are split into HITs of at most `per_hit`."""
    if sessions <= 0 or per_hit <= 0:
        return []
    full, rest = divmod(sessions, per_hit)
    return [per_hit] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class CostLine:
    label: str
    count: int
    unit: Decimal
    total: Decimal


@dataclass(frozen=True)
class CostEstimate:
    """Sessions x reward, the platform's fees and, at most, the paper's bonuses."""

    platform: str
    sessions: int
    reward: Decimal
    lines: list[CostLine]
    fee_rule: str
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0.00"))

    def text(self) -> str:
        rows = [f"Cost estimate ({self.platform}, {self.sessions} sessions):"]
        rows += [
            f"  {line.label}: {line.count} x ${line.unit} = ${line.total}" for line in self.lines
        ]
        rows.append(f"  Total (at most): ${self.total}")
        rows.append(f"  Fee rule: {self.fee_rule}")
        rows += [f"  Warning: {warning}" for warning in self.warnings]
        return "\n".join(rows)


def bonus_raters_at_most(sessions: int, *, bonus_after: int) -> int:
    """How many raters at most can take more than `bonus_after` sessions out of
    `sessions` (the paper: a bonus for raters with more than 15 sessions)."""
    return sessions // (bonus_after + 1) if sessions > 0 else 0


def estimate(
    *,
    platform: str,
    sessions: int,
    reward: Decimal,
    bonus: Decimal,
    bonus_after: int,
    per_hit: int = 9,
    minutes: int | None = None,
) -> CostEstimate:
    """The cost of `sessions` sessions on `platform` (mturk | prolific | link)."""
    reward, bonus = usd(reward), usd(bonus)
    bonuses = bonus_raters_at_most(sessions, bonus_after=bonus_after)
    lines = [CostLine("Rewards", sessions, reward, usd(reward * sessions))]
    warnings: list[str] = []
    if platform == "mturk":
        for size, count in _group(hit_sizes(sessions, per_hit)):
            fee = mturk_fee(reward, assignments_per_hit=size)
            n = size * count
            percent = int(mturk_fee_rate(size) * 100)
            label = f"MTurk fee {percent}% ({count} HIT(s) of {size} assignments)"
            lines.append(CostLine(label, n, fee, fee * n))
        fee_rule = (
            "MTurk charges 20% of each reward and bonus (at least $0.01), 40% on HITs with "
            f"10 or more assignments; this batch uses HITs of at most {per_hit}."
        )
        bonus_fee = mturk_fee(bonus, assignments_per_hit=1) if bonuses else Decimal("0")
    elif platform == "prolific":
        rate = prolific_fee_rate()
        unit = usd(reward * rate)
        lines.append(CostLine(f"Prolific fee {rate * 100:.1f}%", sessions, unit, unit * sessions))
        fee_rule = (
            f"Prolific's service fee {rate * 100:.1f}% of rewards and bonuses (33.3% plus VAT "
            "where it applies; set PROLIFIC_FEE_RATE / PROLIFIC_VAT_RATE)."
        )
        bonus_fee = usd(bonus * rate)
        if minutes:
            hourly = usd(reward * 60 / minutes)
            if hourly < PROLIFIC_MIN_HOURLY_USD:
                warnings.append(
                    f"${reward} for about {minutes} minutes is ${hourly}/hour, below "
                    f"Prolific's minimum of ${PROLIFIC_MIN_HOURLY_USD}/hour: Prolific will "
                    "refuse to publish it."
                )
    else:
        fee_rule = "Direct links: no platform and no fees; pay your participants yourself."
        lines = [CostLine("Rewards (paid by you, outside crowdtest)", sessions, reward, Decimal(0))]
        return CostEstimate(platform, sessions, reward, lines, fee_rule)
    if bonuses:
        lines.append(
            CostLine(
                f"Bonuses, at most (raters with more than {bonus_after} sessions)",
                bonuses,
                bonus,
                usd(bonus * bonuses),
            )
        )
        lines.append(CostLine("Fees on bonuses", bonuses, bonus_fee, usd(bonus_fee * bonuses)))
    return CostEstimate(platform, sessions, reward, lines, fee_rule, warnings)


def _group(sizes: list[int]) -> list[tuple[int, int]]:
    """(size, how many HITs of that size), in order of first appearance."""
    counts: dict[int, int] = {}
    for size in sizes:
        counts[size] = counts.get(size, 0) + 1
    return list(counts.items())
