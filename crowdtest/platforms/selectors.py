"""Reads of the platforms app: the payment plan (what `pay` would do), the cost so far,
and what the Platform page shows."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Session
from crowdtest.rating.models import Assignment, Rater
from crowdtest.rating.selectors import session_minutes as rating_session_minutes
from crowdtest.results.models import SessionVerdict
from modeling.screening import Reason

from .models import AssignmentCheck, CapGrant, Payment, Publication, Submission
from .money import CostEstimate, estimate, mturk_fee, prolific_fee_rate, usd
from .mturk import CLOSURE_NOTICE, MTurk
from .prolific import Prolific

# Seconds a rater spends per clip beyond its length (pressing play, choosing a score), and
# on the setup and questions: what "about N minutes" is told from.
AWAITING_REVIEW = {"mturk": MTurk.awaiting_review, "prolific": Prolific.awaiting_review}
APPROVED = {"mturk": MTurk.approved, "prolific": Prolific.approved}
APPROVE_FEEDBACK = "Thank you: your session passed every check of the listening test."
NO_SESSION_FEEDBACK = (
    "No completed session of this listening test was found for this submission: the "
    "ratings are made on the test's page, which sends the submission when it is done."
)
OTHER_WORKER_FEEDBACK = "The session for this submission was taken under another worker's identity."


@dataclass(frozen=True)
class PlannedPayment:
    """One approval, rejection or bonus `pay --execute` would send."""

    kind: str
    publication_id: int
    platform: str
    worker_id: str
    rater_id: int | None
    submission_pk: int
    submission_id: str  # the platform's id (MTurk assignment, Prolific submission)
    batch_id: str
    amount: Decimal
    feedback: str
    token: str
    category: str = ""  # Prolific's rejection category
    hit_size: int = 1  # MTurk: assignments in the HIT, which decides the fee

    def line(self) -> str:
        what = {"approve": "APPROVE", "reject": "REJECT ", "bonus": "BONUS  "}[self.kind]
        return (
            f"{what} {self.platform} {self.submission_id} worker {self.worker_id} "
            f"${self.amount}: {self.feedback}"
        )


@dataclass
class PaymentPlan:
    items: list[PlannedPayment] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    unfinished: list[Payment] = field(default_factory=list)
    failed: list[Payment] = field(default_factory=list)

    def total(self, kind: str) -> Decimal:
        return sum((i.amount for i in self.items if i.kind == kind), Decimal("0.00"))

    def count(self, kind: str) -> int:
        return sum(1 for i in self.items if i.kind == kind)

    def fees(self) -> Decimal:
        return sum((_fee(i) for i in self.items if i.kind != "reject"), Decimal("0.00"))

    def grand_total(self) -> Decimal:
        """What executing the plan costs: approvals and bonuses, with the platforms' fees."""
        return self.total("approve") + self.total("bonus") + self.fees()

    def platforms(self) -> list[str]:
        return sorted({i.platform for i in self.items})

    def fingerprint(self) -> str:
        """Names exactly this plan: the confirmation page sends it back, and a plan that
        changed in between (a new submission, a new verdict) is not executed unseen."""
        parts = sorted(f"{i.token}:{i.amount}" for i in self.items)
        parts += sorted(f"resume:{p.pk}" for p in self.unfinished)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    def summary(self) -> str:
        return (
            f"{self.count('approve')} approvals (${self.total('approve')}), "
            f"{self.count('reject')} rejections, {self.count('bonus')} bonuses "
            f"(${self.total('bonus')}); platform fees about ${self.fees()}; "
            f"total ${self.total('approve') + self.total('bonus') + self.fees()}"
        )


def _fee(item: PlannedPayment) -> Decimal:
    if item.platform == "prolific":
        return usd(item.amount * prolific_fee_rate())
    # The HIT's size decides the approval's fee; bonuses pay the base 20%.
    return mturk_fee(item.amount, assignments_per_hit=item.hit_size)


def decision_token(platform: str, sandbox: bool, submission_id: str) -> str:
    return _token("r", f"{platform}:{int(sandbox)}:{submission_id}")


def bonus_token(experiment_id: int, worker_id: str, reason: str) -> str:
    """The same (experiment, worker, reason) always gives the same token, which is
    MTurk's UniqueRequestToken: a retried bonus is never paid twice."""
    return _token("b", f"{experiment_id}:{worker_id}:{reason}")


def _token(prefix: str, key: str) -> str:
    return f"ct{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:48]}"


def reasons_text(reasons: list[str]) -> str:
    texts = []
    for code in reasons:
        try:
            texts.append(Reason(code).text)
        except ValueError:
            texts.append(code)
    return "; ".join(texts) or "it did not pass the checks"


def payment_plan(*, experiment: Experiment) -> PaymentPlan:
    """Every decision and bonus still to send, from the synced submissions, the screening
    verdicts and the ledger. Reads only: `pay` without --execute prints this."""
    plan = PaymentPlan()
    ledger = Payment.objects.filter(experiment=experiment)
    plan.unfinished = list(ledger.filter(status__in=[Payment.Status.PLANNED, Payment.Status.SENT]))
    plan.failed = list(ledger.filter(status=Payment.Status.FAILED))
    taken = set(ledger.values_list("token", flat=True))
    submissions = (
        Submission.objects.filter(batch__publication__experiment=experiment)
        .exclude(batch__publication__platform="link")
        .select_related("batch__publication", "assignment__rater")
        .order_by("pk")
    )
    verdicts = {v.assignment_id: v for v in SessionVerdict.objects.filter(experiment=experiment)}
    forged = set(
        AssignmentCheck.objects.filter(
            assignment__experiment=experiment, state=AssignmentCheck.State.FORGED
        ).values_list("assignment_id", flat=True)
    )
    approved_by_rater: dict[int, list[Submission]] = defaultdict(list)
    ledger_approved = set(
        ledger.filter(kind=Payment.Kind.APPROVE)
        .exclude(status=Payment.Status.FAILED)
        .values_list("submission_id", flat=True)
    )
    for sub in submissions:
        publication = sub.batch.publication
        platform = publication.platform
        if sub.platform_status in APPROVED[platform] or sub.pk in ledger_approved:
            if sub.assignment is not None:
                approved_by_rater[sub.assignment.rater_id].append(sub)
            continue
        if sub.platform_status not in AWAITING_REVIEW[platform]:
            continue
        token = decision_token(platform, publication.sandbox, sub.external_id)
        if token in taken:
            continue
        item = _decide(sub, publication, token, verdicts, forged, plan)
        if item is not None:
            plan.items.append(item)
            if item.kind == "approve" and sub.assignment is not None:
                approved_by_rater[sub.assignment.rater_id].append(sub)
    plan.items += _bonuses(experiment, approved_by_rater, taken)
    return plan


def _decide(
    sub: Submission,
    publication: Publication,
    token: str,
    verdicts: dict[int, SessionVerdict],
    forged: set[int],
    plan: PaymentPlan,
) -> PlannedPayment | None:
    assignment = sub.assignment
    base: dict[str, Any] = {
        "publication_id": publication.pk,
        "platform": publication.platform,
        "worker_id": sub.worker_id,
        "rater_id": assignment.rater_id if assignment else None,
        "submission_pk": sub.pk,
        "submission_id": sub.external_id,
        "batch_id": sub.batch.external_id,
        "token": token,
    }
    if sub.match == Submission.Match.OTHER_WORKER:
        return PlannedPayment(
            kind="reject",
            amount=Decimal("0.00"),
            feedback=OTHER_WORKER_FEEDBACK,
            category="FAILED_CHECK",
            **base,
        )
    if assignment is None:
        return PlannedPayment(
            kind="reject",
            amount=Decimal("0.00"),
            feedback=NO_SESSION_FEEDBACK,
            category="NO_DATA",
            **base,
        )
    if assignment.pk in forged:
        plan.waiting.append(f"{sub.external_id}: its session is flagged forged; not paid")
        return None
    verdict = verdicts.get(assignment.pk)
    if assignment.status == Assignment.Status.ACTIVE or verdict is None:
        plan.waiting.append(
            f"{sub.external_id}: its session is not finished and screened yet "
            "(`python manage.py screen` screens sessions that timed out)"
        )
        return None
    if verdict.valid:
        return PlannedPayment(
            kind="approve",
            amount=publication.reward_usd,
            feedback=APPROVE_FEEDBACK,
            hit_size=sub.batch.places,
            **base,
        )
    feedback = (
        "Your session did not pass the listening test's checks: "
        f"{reasons_text(list(verdict.reasons))}."
    )
    return PlannedPayment(
        kind="reject", amount=Decimal("0.00"), feedback=feedback, category="FAILED_CHECK", **base
    )


def _bonuses(
    experiment: Experiment, approved_by_rater: dict[int, list[Submission]], taken: set[str]
) -> list[PlannedPayment]:
    """The paper's bonus: raters with more than `bonus_after_sessions` approved sessions
    get `bonus_usd` once, on their latest approved submission."""
    cfg = experiment.config
    reason_key = f"sessions>{cfg.bonus_after_sessions}"
    reason = (
        f"A bonus for taking more than {cfg.bonus_after_sessions} sessions of our listening "
        "test. Thank you!"
    )
    items = []
    for rater_id, subs in sorted(approved_by_rater.items()):
        if len(subs) <= cfg.bonus_after_sessions:
            continue
        latest = max(subs, key=lambda s: s.pk)
        token = bonus_token(experiment.pk, latest.worker_id, reason_key)
        if token in taken:
            continue
        items.append(
            PlannedPayment(
                kind="bonus",
                publication_id=latest.batch.publication_id,
                platform=latest.batch.publication.platform,
                worker_id=latest.worker_id,
                rater_id=rater_id,
                submission_pk=latest.pk,
                submission_id=latest.external_id,
                batch_id=latest.batch.external_id,
                amount=usd(cfg.bonus_usd),
                feedback=reason,
                token=token,
            )
        )
    return items


# --- The Platform page ------------------------------------------------------------------


def cost_so_far(*, experiment: Experiment) -> dict[str, Any]:
    """What has been paid (approved rewards and bonuses confirmed), before fees."""
    approved = Submission.objects.filter(batch__publication__experiment=experiment).filter(
        Q(batch__publication__platform="mturk", platform_status__in=MTurk.approved)
        | Q(batch__publication__platform="prolific", platform_status__in=Prolific.approved)
    )
    rewards = sum(
        (s.batch.publication.reward_usd for s in approved.select_related("batch__publication")),
        Decimal("0.00"),
    )
    bonuses = sum(
        (
            p.amount_usd
            for p in Payment.objects.filter(
                experiment=experiment, kind=Payment.Kind.BONUS, status=Payment.Status.CONFIRMED
            )
        ),
        Decimal("0.00"),
    )
    return {
        "approved": approved.count(),
        "rewards": rewards,
        "bonuses": bonuses,
        "total": rewards + bonuses,
    }


def publications_of(*, experiment: Experiment) -> list[Publication]:
    return list(
        Publication.objects.filter(experiment=experiment)
        .annotate(n_batches=Count("batches", distinct=True))
        .prefetch_related("batches")
    )


def checks_summary(*, experiment: Experiment) -> dict[str, Any]:
    checks = AssignmentCheck.objects.filter(assignment__experiment=experiment)
    counts = dict(checks.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    forged = list(
        checks.filter(state=AssignmentCheck.State.FORGED)
        .select_related("assignment__rater")
        .order_by("-checked_at")[:50]
    )
    return {"counts": counts, "forged": forged}


def caps_summary(*, experiment: Experiment) -> list[dict[str, Any]]:
    """Raters at or near the session cap, with where they are listed."""
    cap = experiment.config.max_sessions_per_rater
    rows = (
        Rater.objects.filter(experiment=experiment)
        .exclude(platform=Rater.Platform.STAFF)  # a preview is capped by nothing
        .annotate(done=Count("assignments", filter=Q(assignments__status="completed")))
        .filter(done__gte=max(1, cap - 2))
        .order_by("-done", "pk")[:100]
    )
    grants = {
        g.rater_id: g
        for g in CapGrant.objects.filter(cap_list__experiment=experiment).select_related("cap_list")
    }
    found = []
    for r in rows:
        done: int = r.done  # type: ignore[attr-defined]  # the annotation above
        found.append({"rater": r, "done": done, "at_cap": done >= cap, "grant": grants.get(r.pk)})
    return found


def session_minutes(experiment: Experiment) -> int:
    """About how long one session takes (rating's estimate: measured once sessions are
    timed, else from the design)."""
    return rating_session_minutes(experiment=experiment)


def open_sessions(*, experiment: Experiment) -> int:
    return Session.objects.filter(
        experiment=experiment, kind=Session.Kind.RATING, status=Session.Status.OPEN
    ).count()


def planned_sessions(*, experiment: Experiment) -> int:
    return Session.objects.filter(experiment=experiment, kind=Session.Kind.RATING).count()


def estimate_for(
    *, experiment: Experiment, platform: str, sessions: int | None = None, per_hit: int = 9
) -> CostEstimate:
    """The cost of offering `sessions` (default: every open session) on `platform`."""
    cfg = experiment.config
    return estimate(
        platform=platform,
        sessions=open_sessions(experiment=experiment) if sessions is None else sessions,
        reward=Decimal(cfg.reward_usd),
        bonus=Decimal(cfg.bonus_usd),
        bonus_after=cfg.bonus_after_sessions,
        per_hit=per_hit,
        minutes=session_minutes(experiment),
    )


def platform_page(*, experiment: Experiment) -> dict[str, Any]:
    """Everything the Platform page shows."""
    platform = experiment.config.platform
    return {
        "experiment": experiment,
        "platform": platform,
        "closure_notice": CLOSURE_NOTICE,
        "https": settings.PUBLIC_BASE_URL.startswith("https://"),
        "public_base_url": settings.PUBLIC_BASE_URL,
        "publications": publications_of(experiment=experiment),
        "estimates": [
            estimate_for(experiment=experiment, platform=name) for name in ("mturk", "prolific")
        ],
        # What the whole design costs: every planned rating session, open or not.
        "planned_sessions": (planned := planned_sessions(experiment=experiment)),
        "estimates_planned": [
            estimate_for(experiment=experiment, platform=name, sessions=planned)
            for name in ("mturk", "prolific")
        ],
        "cost": cost_so_far(experiment=experiment),
        "plan": payment_plan(experiment=experiment),
        "checks": checks_summary(experiment=experiment),
        "caps": caps_summary(experiment=experiment),
        "max_sessions": experiment.config.max_sessions_per_rater,
        "ledger": list(Payment.objects.filter(experiment=experiment).order_by("-pk")[:50]),
    }
