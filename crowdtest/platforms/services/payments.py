"""Sending approvals, rejections and bonuses, through the payment ledger.

Every payment is a `Payment` row written (planned) and committed BEFORE its platform
call, claimed (planned -> sent) just before it and marked confirmed or failed after it.
So a run that stops half way (a crash, a platform that stays down) leaves rows that the
next run finishes first, and nobody is paid twice:

- a row left `sent` is checked on the platform before anything is sent again (the
  assignment's state on MTurk, the submission's on Prolific, the bonuses an assignment
  got); an MTurk bonus is then sent again with the same UniqueRequestToken;
- a Prolific bonus whose pay call may have gone through is never paid again blindly
  (Prolific's pay endpoint is not idempotent): it is reported for a person to check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from crowdtest.corpus.models import Experiment

from ..base import Gateway
from ..errors import PlatformError
from ..gateways import gateway_for
from ..models import Payment, Publication
from ..selectors import PlannedPayment, payment_plan

Say = Callable[[str], None]


@dataclass
class PaymentReport:
    confirmed: int = 0
    failed: int = 0
    unknown: int = 0
    resumed: int = 0
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.confirmed} payments done, {self.failed} refused, {self.unknown} to check "
            f"by hand ({self.resumed} resumed from an earlier run)"
        )


class _Gateways:
    def __init__(self) -> None:
        self.cache: dict[int, Gateway] = {}

    def of(self, publication: Publication) -> Gateway:
        if publication.pk not in self.cache:
            self.cache[publication.pk] = gateway_for(
                platform=publication.platform, sandbox=publication.sandbox
            )
        return self.cache[publication.pk]


def payments_execute(
    *, experiment: Experiment, retry_failed: bool = False, say: Say | None = None
) -> PaymentReport:
    """Finish what an earlier run left, then send the plan. Stops at the first payment
    whose outcome is unknown (raising `PlatformError`); run it again to go on."""
    report = PaymentReport()
    gateways = _Gateways()
    tell = say or (lambda line: None)
    ledger = Payment.objects.filter(experiment=experiment).select_related(
        "publication", "submission"
    )
    if retry_failed:
        ledger.filter(status=Payment.Status.FAILED).update(status=Payment.Status.PLANNED, error="")
    for row in ledger.filter(status__in=[Payment.Status.PLANNED, Payment.Status.SENT]):
        report.resumed += 1
        _finish(row, gateways, report, tell)
    for item in payment_plan(experiment=experiment).items:
        planned = _ledger_row(experiment, item)
        if planned is not None:
            _send(planned, gateways, report, tell)
    return report


def _ledger_row(experiment: Experiment, item: PlannedPayment) -> Payment | None:
    """The planned row, committed before anything is sent; None if another run has it."""
    try:
        with transaction.atomic():
            return Payment.objects.create(
                experiment=experiment,
                publication_id=item.publication_id,
                kind=item.kind,
                rater_id=item.rater_id,
                worker_id=item.worker_id,
                submission_id=item.submission_pk,
                amount_usd=item.amount,
                token=item.token,
                feedback=item.feedback,
                batch_id=item.batch_id,
                category=item.category,
            )
    except IntegrityError:
        return None


def _finish(row: Payment, gateways: _Gateways, report: PaymentReport, tell: Say) -> None:
    """A row left by an earlier run: send it if it never was, else check what the
    platform did before sending again."""
    if row.status == Payment.Status.PLANNED:
        _send(row, gateways, report, tell)
        return
    gateway = gateways.of(row.publication)
    submission_id = row.submission.external_id if row.submission else ""
    if row.kind in (Payment.Kind.APPROVE, Payment.Kind.REJECT):
        done = gateway.decision(submission_id=submission_id)
        if done == row.kind:
            _mark(row, Payment.Status.CONFIRMED, report, tell, "found done on the platform")
        elif done:
            _mark(row, Payment.Status.FAILED, report, tell, f"the platform already has {done}")
        else:
            _replan(row)
            _send(row, gateways, report, tell)
        return
    amount = f"{row.amount_usd:.2f}"
    if row.external_ref and gateway.bonus_paid(
        ref=row.external_ref, worker_id=row.worker_id, submission_id=submission_id, amount=amount
    ):
        _mark(row, Payment.Status.CONFIRMED, report, tell, "found paid on the platform")
    elif gateway.bonus_retry_safe or not row.external_ref:
        _replan(row)
        _send(row, gateways, report, tell)
    else:
        report.unknown += 1
        line = (
            f"CHECK   bonus {row.external_ref} to {row.worker_id} ${amount}: the pay call may "
            "have gone through; see the study's bonuses on the platform, then mark this "
            "payment confirmed or failed in the admin"
        )
        report.lines.append(line)
        tell(line)


def _replan(row: Payment) -> None:
    Payment.objects.filter(pk=row.pk).update(status=Payment.Status.PLANNED)
    row.status = Payment.Status.PLANNED


def _send(row: Payment, gateways: _Gateways, report: PaymentReport, tell: Say) -> None:
    claimed = Payment.objects.filter(pk=row.pk, status=Payment.Status.PLANNED).update(
        status=Payment.Status.SENT
    )
    if not claimed:
        return  # another run is sending it
    row.status = Payment.Status.SENT
    gateway = gateways.of(row.publication)
    submission_id = row.submission.external_id if row.submission else ""
    try:
        if row.kind == Payment.Kind.APPROVE:
            response = gateway.approve(submission_id=submission_id, feedback=row.feedback)
        elif row.kind == Payment.Kind.REJECT:
            response = gateway.reject(
                submission_id=submission_id,
                feedback=row.feedback,
                category=row.category or "FAILED_CHECK",
            )
        else:
            response = _bonus(row, gateway, submission_id)
    except PlatformError as exc:
        row.error = exc.message
        row.save(update_fields=["error", "updated_at"])
        if exc.outcome_unknown:
            report.unknown += 1
            raise PlatformError(
                f"Payments stopped at {row}: {exc.message} Its outcome is unknown; run "
                "`pay --execute` again to check it and go on.",
                code=exc.code,
                outcome_unknown=True,
            ) from exc
        if row.kind != Payment.Kind.BONUS and _already(gateway, row, submission_id):
            _mark(row, Payment.Status.CONFIRMED, report, tell, "already done on the platform")
        else:
            _mark(row, Payment.Status.FAILED, report, tell, exc.message)
        return
    row.response = _plain(response)
    row.save(update_fields=["response", "updated_at"])
    _mark(row, Payment.Status.CONFIRMED, report, tell, "")


def _bonus(row: Payment, gateway: Gateway, submission_id: str) -> dict[str, Any]:
    amount = f"{row.amount_usd:.2f}"
    if not row.external_ref:
        row.external_ref = gateway.bonus_prepare(
            worker_id=row.worker_id,
            batch_id=row.batch_id,
            amount=amount,
            token=row.token,
        )
        row.save(update_fields=["external_ref", "updated_at"])  # kept before paying
    return gateway.bonus_pay(
        ref=row.external_ref,
        worker_id=row.worker_id,
        submission_id=submission_id,
        amount=amount,
        reason=row.feedback,
        token=row.token,
    )


def _already(gateway: Gateway, row: Payment, submission_id: str) -> bool:
    try:
        return gateway.decision(submission_id=submission_id) == row.kind
    except PlatformError:
        return False


def _mark(row: Payment, status: str, report: PaymentReport, tell: Say, note: str) -> None:
    row.status = status
    if status == Payment.Status.CONFIRMED:
        row.error = ""
        report.confirmed += 1
    else:
        row.error = note
        report.failed += 1
    row.save(update_fields=["status", "error", "updated_at"])
    word = "DONE   " if status == Payment.Status.CONFIRMED else "REFUSED"
    line = f"{word} {row.kind} {row.worker_id} ${row.amount_usd}{f' ({note})' if note else ''}"
    report.lines.append(line)
    tell(line)


def _plain(response: dict[str, Any]) -> dict[str, Any]:
    """The platform's answer without transport metadata, JSON-safe."""
    return {k: str(v) for k, v in (response or {}).items() if k != "ResponseMetadata"}
