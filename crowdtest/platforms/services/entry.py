"""A Prolific rater's place, checked when they start: their SESSION_ID must name a
submission Prolific made for them (their PROLIFIC_PID) in one of this experiment's
studies. It runs as a task right after consent (never a network call inside the rater's
request). A place Prolific does not know, or knows as another participant's, stops the
session and blocks the rater before they rate anything; if Prolific can't be reached, the
check is left to the sync (services/sync.py), which checks every completed session.

MTurk lists an assignment only once its worker submits it, so an MTurk rater is checked
at sync only.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from crowdtest.rating.models import Assignment
from crowdtest.rating.services import assignment_refuse

from ..errors import PlatformError
from ..gateways import gateway_for
from ..models import AssignmentCheck, Batch
from ..prolific import Prolific


def entry_check(*, assignment_id: int, now: datetime | None = None) -> str:
    """Check a Prolific rater's place; returns the check's state ("" when not checked)."""
    now = now or timezone.now()
    assignment = Assignment.objects.select_related("rater").get(pk=assignment_id)
    rater = assignment.rater
    if rater.platform != "prolific" or assignment.status != Assignment.Status.ACTIVE:
        return ""  # a session that already ended is the sync's to check
    studies = set(
        Batch.objects.filter(
            publication__experiment_id=assignment.experiment_id,
            publication__platform="prolific",
        ).values_list("external_id", flat=True)
    )
    if not studies:
        return ""  # nothing published on Prolific by crowdtest: nothing to check against
    detail = ""
    if assignment.platform_batch_id not in studies:
        detail = (
            f"{assignment.platform_batch_id or '(none)'} is not one of this experiment's studies"
        )
    else:
        try:
            gateway = gateway_for(platform="prolific", sandbox=False)
            assert isinstance(gateway, Prolific)
            place = gateway.place(submission_id=assignment.platform_assignment_id)
        except PlatformError:
            return ""  # unreachable or failing: the sync checks the finished session
        if place is None:
            detail = f"Prolific has no submission {assignment.platform_assignment_id}"
        elif place.worker_id != rater.external_id:
            detail = (
                f"Prolific says submission {assignment.platform_assignment_id} is "
                f"{place.worker_id}'s, not {rater.external_id}'s"
            )
        elif place.batch_id and place.batch_id != assignment.platform_batch_id:
            detail = f"submission {assignment.platform_assignment_id} is of study {place.batch_id}"
    state = AssignmentCheck.State.FORGED if detail else AssignmentCheck.State.VERIFIED
    AssignmentCheck.objects.update_or_create(
        assignment=assignment,
        defaults={
            "state": state,
            "detail": (detail or "Prolific confirmed the place when the rater started")[:300],
            "checked_at": now,
        },
    )
    if detail:
        assignment_refuse(assignment_id=assignment.pk, now=now)
    return str(state)
