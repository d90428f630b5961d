"""`pay` on MTurk: approvals and rejections from the screening verdicts with their
feedback, the paper's bonus with a UniqueRequestToken, a run that stops half way and
resumes without paying anyone twice."""

from __future__ import annotations

import io

import pytest
from botocore.stub import Stubber
from django.core.management import CommandError, call_command

from crowdtest.corpus.models import Experiment
from crowdtest.platforms.models import Payment, Publication
from crowdtest.platforms.selectors import bonus_token, payment_plan
from crowdtest.platforms.services import PlatformError, payments_execute
from crowdtest.results.services import experiment_screen
from tests.factories import ExperimentFactory

from .helpers import WHEN, published, session, stimuli, synced

pytestmark = pytest.mark.django_db
APPROVED = "Thank you: your session passed every check of the listening test."


@pytest.fixture
def experiment() -> Experiment:
    return ExperimentFactory(settings={"bonus_after_sessions": 1})


def pay(*args: str) -> str:
    out = io.StringIO()
    call_command("pay", *args, stdout=out)
    return out.getvalue()


def three_sessions(experiment: Experiment) -> Publication:
    publication = published(experiment, "3HIT")
    rated = stimuli(experiment)
    for n, valid in ((1, True), (2, False), (3, True)):
        assignment = session(experiment, f"AW{n}", f"3A{n}", "3HIT", valid=valid, on=rated)
        synced(publication, assignment, f"3A{n}", f"AW{n}")
    experiment_screen(experiment=experiment)
    return publication


def approve(stub: Stubber, assignment_id: str) -> None:
    stub.add_response(
        "approve_assignment", {}, {"AssignmentId": assignment_id, "RequesterFeedback": APPROVED}
    )


def test_the_dry_run_lists_every_decision_with_its_feedback(experiment: Experiment) -> None:
    three_sessions(experiment)
    out = pay(experiment.slug)
    assert "Dry run: nothing is sent" in out
    assert f"APPROVE mturk 3A1 worker AW1 $0.50: {APPROVED}" in out
    assert (
        "REJECT  mturk 3A2 worker AW2 $0.00: Your session did not pass the listening test's "
        "checks: Math answer was wrong." in out
    )
    assert (
        "Total: 2 approvals ($1.00), 1 rejections, 0 bonuses ($0.00); platform fees about "
        "$0.20; total $1.20" in out
    )
    assert not Payment.objects.exists()


def test_work_without_a_session_here_is_rejected(experiment: Experiment) -> None:
    publication = published(experiment, "3HIT")
    synced(publication, None, "3STRAY", "AWX")
    [item] = payment_plan(experiment=experiment).items
    assert (item.kind, item.submission_id) == ("reject", "3STRAY")
    assert item.feedback.startswith("No completed session of this listening test")


def test_approvals_that_stop_half_way_resume_without_repeating(
    experiment: Experiment, stub: Stubber
) -> None:
    three_sessions(experiment)
    approve(stub, "3A1")
    for _ in range(5):  # MTurk stays down: the outcome of 3A2's rejection is unknown
        stub.add_client_error("reject_assignment", "ServiceUnavailable", "down", 503)
    with pytest.raises(
        CommandError, match=r"Payments stopped at reject .*run `pay --execute` again"
    ):
        pay(experiment.slug, "--execute")
    assert dict(Payment.objects.values_list("worker_id", "status")) == {
        "AW1": "confirmed",
        "AW2": "sent",
    }
    stub.assert_no_pending_responses()

    # Next run: 3A2 is checked first (still Submitted, so it is sent), 3A1 is never sent
    # again, and 3A3 comes after.
    stub.add_response(
        "get_assignment",
        {
            "Assignment": {
                "AssignmentId": "3A2",
                "WorkerId": "AW2",
                "HITId": "3HIT",
                "AssignmentStatus": "Submitted",
                "SubmitTime": WHEN,
            }
        },
        {"AssignmentId": "3A2"},
    )
    stub.add_response(
        "reject_assignment",
        {},
        {
            "AssignmentId": "3A2",
            "RequesterFeedback": (
                "Your session did not pass the listening test's checks: Math answer was wrong."
            ),
        },
    )
    approve(stub, "3A3")
    out = pay(experiment.slug, "--execute")
    assert "3 payments done" not in out and "2 payments done" in out and "1 resumed" in out
    assert set(Payment.objects.values_list("status", flat=True)) == {"confirmed"}
    assert pay(experiment.slug, "--execute").startswith("0 payments done")


def test_a_call_that_went_through_before_the_crash_is_not_sent_again(
    experiment: Experiment, stub: Stubber
) -> None:
    three_sessions(experiment)
    approve(stub, "3A1")
    for _ in range(5):
        stub.add_client_error("reject_assignment", "ServiceFault", "internal", 500)
    with pytest.raises(CommandError):
        pay(experiment.slug, "--execute")
    stub.add_response(
        "get_assignment",
        {"Assignment": {"AssignmentId": "3A2", "AssignmentStatus": "Rejected"}},
        {"AssignmentId": "3A2"},
    )
    approve(stub, "3A3")
    out = pay(experiment.slug, "--execute")
    assert "found done on the platform" in out


def test_a_refused_approval_is_recorded_and_the_batch_goes_on(
    experiment: Experiment, stub: Stubber
) -> None:
    three_sessions(experiment)
    stub.add_client_error(
        "approve_assignment", "RequestError", "Assignment 3A1 does not exist.", 400
    )
    stub.add_client_error("get_assignment", "RequestError", "does not exist", 400)
    stub.add_response("reject_assignment", {}, None)
    approve(stub, "3A3")
    report = payments_execute(experiment=experiment)
    assert (report.confirmed, report.failed) == (2, 1)
    failed = Payment.objects.get(status="failed")
    assert failed.worker_id == "AW1" and "does not exist" in failed.error


def test_the_papers_bonus_is_sent_once_with_a_deterministic_token(
    experiment: Experiment, stub: Stubber
) -> None:
    publication = published(experiment, "3HIT", "3HIU")
    rated = stimuli(experiment)
    for n, hit in ((1, "3HIT"), (2, "3HIU")):  # two approved sessions: more than 1
        assignment = session(experiment, "AW1", f"3A{n}", hit, on=rated)
        synced(publication, assignment, f"3A{n}", "AW1", status="Approved")
    experiment_screen(experiment=experiment)
    token = bonus_token(experiment.pk, "AW1", "sessions>1")
    assert token == bonus_token(experiment.pk, "AW1", "sessions>1") and len(token) <= 64
    reason = "A bonus for taking more than 1 sessions of our listening test. Thank you!"
    params = {
        "WorkerId": "AW1",
        "BonusAmount": "0.10",
        "AssignmentId": "3A2",
        "Reason": reason,
        "UniqueRequestToken": token,
    }
    for _ in range(5):
        stub.add_client_error("send_bonus", "ThrottlingException", "slow down", 400)
    with pytest.raises(PlatformError, match="outcome is unknown"):
        payments_execute(experiment=experiment)
    row = Payment.objects.get()
    assert (row.kind, row.status, row.token) == ("bonus", "sent", token)

    # The retry: MTurk shows no bonus on 3A2, so it is sent again with the same token.
    stub.add_response(
        "list_bonus_payments",
        {"NumResults": 0, "BonusPayments": []},
        {"AssignmentId": "3A2", "MaxResults": 100},
    )
    stub.add_response("send_bonus", {}, params)
    assert payments_execute(experiment=experiment).confirmed == 1
    assert payments_execute(experiment=experiment).confirmed == 0  # nothing left, no call


def test_a_bonus_mturk_already_has_is_confirmed_not_paid_again(
    experiment: Experiment, stub: Stubber
) -> None:
    publication = published(experiment, "3HIT", "3HIU")
    rated = stimuli(experiment)
    for n, hit in ((1, "3HIT"), (2, "3HIU")):
        assignment = session(experiment, "AW1", f"3A{n}", hit, on=rated)
        synced(publication, assignment, f"3A{n}", "AW1", status="Approved")
    experiment_screen(experiment=experiment)
    for _ in range(5):
        stub.add_client_error("send_bonus", "ServiceUnavailable", "down", 503)
    with pytest.raises(PlatformError):
        payments_execute(experiment=experiment)
    stub.add_response(
        "list_bonus_payments",
        {
            "NumResults": 1,
            "BonusPayments": [
                {
                    "WorkerId": "AW1",
                    "BonusAmount": "0.10",
                    "AssignmentId": "3A2",
                    "Reason": "r",
                    "GrantTime": WHEN,
                }
            ],
        },
        {"AssignmentId": "3A2", "MaxResults": 100},
    )
    report = payments_execute(experiment=experiment)
    assert report.confirmed == 1 and "found paid on the platform" in report.lines[0]


def test_a_token_mturk_has_seen_counts_as_sent(experiment: Experiment, stub: Stubber) -> None:
    publication = published(experiment, "3HIT", "3HIU")
    rated = stimuli(experiment)
    for n, hit in ((1, "3HIT"), (2, "3HIU")):
        assignment = session(experiment, "AW1", f"3A{n}", hit, on=rated)
        synced(publication, assignment, f"3A{n}", "AW1", status="Approved")
    experiment_screen(experiment=experiment)
    stub.add_client_error(
        "send_bonus",
        "RequestError",
        "The value of the UniqueRequestToken has already been used (1234-abcd)",
        400,
    )
    assert payments_execute(experiment=experiment).confirmed == 1
