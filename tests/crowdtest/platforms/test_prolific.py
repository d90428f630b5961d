"""Prolific at its HTTP boundary: every request's method, URL, token header and JSON body
is checked, and answered with Prolific's response shapes."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from crowdtest.corpus.models import Experiment
from crowdtest.platforms.models import CapGrant, CapList, Payment, Publication, Submission
from crowdtest.platforms.services import (
    PlatformError,
    payments_execute,
    platform_sync,
)
from crowdtest.results.services import experiment_screen
from tests.crowdtest.rating.designs import RaterClient, make_design, take_session
from tests.factories import ExperimentFactory

from .fakes import ANY_BODY, API, ProlificAPI, page, submission
from .helpers import published, session, stimuli, synced

pytestmark = pytest.mark.django_db
STUDY = "6740aa00f1d2c3b4a5968778"


def publish(*args: str) -> str:
    out = io.StringIO()
    call_command("publish", *args, stdout=out)
    return out.getvalue()


def test_a_study_is_created_with_the_url_parameters_and_code_then_published(
    prolific_api: ProlificAPI, https: str
) -> None:
    experiment = make_design().experiment
    prolific_api.expect(
        "POST",
        "participant-groups/",
        {
            "workspace_id": "ws-1",
            "name": f"crowdtest {experiment.slug}: 20 sessions taken",
            "description": (
                f"Workers who took the most sessions (20) of the listening test "
                f"'{experiment.name}' allowed to one person."
            ),
        },
        status=201,
        answer={"id": "group-1", "name": "cap", "participant_count": 0},
    )
    prolific_api.expect(
        "POST",
        "studies/",
        ANY_BODY,
        status=201,
        answer={"id": STUDY, "status": "UNPUBLISHED", "total_available_places": 5},
    )
    prolific_api.expect(
        "POST",
        f"studies/{STUDY}/transition/",
        {"action": "PUBLISH"},
        answer={"id": STUDY, "status": "ACTIVE"},
    )
    out = publish(experiment.slug, "--platform", "prolific", "--sessions", "5")
    publication = Publication.objects.get()
    code = publication.completion_code
    assert prolific_api.body(1) == {
        "name": "Rate the audio quality of music recordings (headphones needed)",
        "internal_name": f"crowdtest:{experiment.slug}:{publication.pk}",
        "description": (
            "Listen to 6 short music excerpts with headphones and rate the audio quality of "
            "each, from bad to excellent. About 5 minutes."
        ),
        "external_study_url": (
            f"https://listen.example.org/take/{experiment.slug}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
            "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
        ),
        "prolific_id_option": "url_parameters",
        "completion_codes": [
            {"code": code, "code_type": "COMPLETED", "actions": [{"action": "MANUALLY_REVIEW"}]}
        ],
        "estimated_completion_time": 5,
        "maximum_allowed_time": 90,
        "reward": 50,
        "total_available_places": 5,
        "device_compatibility": ["desktop", "tablet", "mobile"],
        "peripheral_requirements": ["audio"],
        "filters": [{"filter_id": "participant_group_blocklist", "selected_values": ["group-1"]}],
    }
    assert (
        f"{STUDY} (5 places): https://app.prolific.com/researcher/workspaces/studies/{STUDY}" in out
    )
    assert "Prolific fee 33.3%: 5 x $0.17 = $0.85" in out
    assert "below Prolific's minimum" in out  # $0.50 for 5 minutes is $6.00/hour
    assert CapList.objects.get().external_id == "group-1"


def test_prolific_has_no_sandbox(https: str) -> None:
    experiment = make_design().experiment
    with pytest.raises(CommandError, match="Prolific has no sandbox"):
        publish(experiment.slug, "--platform", "prolific", "--sandbox")


def test_a_prolific_rater_gets_the_studys_completion_code(client: Client) -> None:
    experiment = make_design().experiment
    publication = published(experiment, STUDY, platform="prolific", sandbox=False)
    Publication.objects.filter(pk=publication.pk).update(completion_code="C0DE1234")
    rc = RaterClient(client, experiment, "5f0c", "prolific", assignment_id="sub-1", batch_id=STUDY)
    finish = take_session(rc)["finish"]
    assert finish["redirect"] == "https://app.prolific.com/submissions/complete?cc=C0DE1234"


def test_submissions_are_synced_page_by_page(prolific_api: ProlificAPI) -> None:
    experiment = ExperimentFactory()
    published(experiment, STUDY, platform="prolific", sandbox=False)
    rated = stimuli(experiment)
    mine = session(experiment, "pid-1", "sub-1", STUDY, platform="prolific", on=rated)
    second = f"{API}submissions/?page=2&page_size=100&study={STUDY}"
    prolific_api.expect(
        "GET",
        f"submissions/?study={STUDY}&page_size=100",
        answer=page([submission("sub-1", "pid-1", study=STUDY)], next_href=second),
    )
    prolific_api.expect(
        "GET", second, answer=page([submission("sub-2", "pid-2", "RETURNED", study=STUDY)])
    )
    report = platform_sync(experiment=experiment)
    assert (report.submissions, report.matched, report.unknown_here) == (2, 1, 1)
    assert Submission.objects.get(external_id="sub-1").assignment == mine


def test_a_next_page_off_prolifics_host_is_not_followed(prolific_api: ProlificAPI) -> None:
    experiment = ExperimentFactory()
    published(experiment, STUDY, platform="prolific", sandbox=False)
    prolific_api.expect(
        "GET",
        f"submissions/?study={STUDY}&page_size=100",
        answer=page([submission("sub-1", "pid-1")], next_href="https://evil.example/steal"),
    )
    with pytest.raises(PlatformError, match="next page is not on"):
        platform_sync(experiment=experiment)


def _two_reviews(experiment: Experiment) -> Publication:
    publication = published(experiment, STUDY, platform="prolific", sandbox=False)
    rated = stimuli(experiment)
    for n, valid in ((1, True), (2, False)):
        assignment = session(
            experiment, f"pid-{n}", f"sub-{n}", STUDY, platform="prolific", valid=valid, on=rated
        )
        synced(publication, assignment, f"sub-{n}", f"pid-{n}", status="AWAITING REVIEW")
    experiment_screen(experiment=experiment)
    return publication


def test_approvals_and_rejections_with_a_reason_and_category(prolific_api: ProlificAPI) -> None:
    experiment = ExperimentFactory()
    _two_reviews(experiment)
    prolific_api.expect(
        "POST",
        "submissions/sub-1/transition/",
        {"action": "APPROVE"},
        answer={"id": "sub-1", "status": "APPROVED"},
    )
    prolific_api.expect(
        "POST",
        "submissions/sub-2/transition/",
        {
            "action": "REJECT",
            "message": (
                "Your session did not pass the listening test's checks: Math answer was "
                "wrong. The test's checks (a simple sum, a spoken instruction inside one "
                "recording, headphones and normal hearing) are explained on its first page."
            ),
            "rejection_category": "FAILED_CHECK",
        },
        answer={"id": "sub-2", "status": "REJECTED"},
    )
    report = payments_execute(experiment=experiment)
    assert report.confirmed == 2
    assert Payment.objects.get(kind="approve").response == {"id": "sub-1", "status": "APPROVED"}


def test_a_busy_prolific_is_retried(prolific_api: ProlificAPI, sleeps: list[float]) -> None:
    experiment = ExperimentFactory()
    _two_reviews(experiment)
    Submission.objects.filter(external_id="sub-2").delete()
    prolific_api.expect(
        "POST",
        "submissions/sub-1/transition/",
        {"action": "APPROVE"},
        status=429,
        answer={"error": {"detail": "slow down"}},
    )
    prolific_api.expect(
        "POST", "submissions/sub-1/transition/", {"action": "APPROVE"}, status=502, answer=None
    )
    prolific_api.expect(
        "POST",
        "submissions/sub-1/transition/",
        {"action": "APPROVE"},
        answer={"id": "sub-1", "status": "APPROVED"},
    )
    assert payments_execute(experiment=experiment).confirmed == 1
    assert len(sleeps) == 2


def test_a_bonus_is_set_up_then_paid_and_never_paid_twice(prolific_api: ProlificAPI) -> None:
    experiment = ExperimentFactory(settings={"bonus_after_sessions": 1})
    publication = published(experiment, STUDY, "6740bb", platform="prolific", sandbox=False)
    rated = stimuli(experiment)
    for n, study in ((1, STUDY), (2, "6740bb")):
        assignment = session(experiment, "pid-1", f"sub-{n}", study, platform="prolific", on=rated)
        synced(publication, assignment, f"sub-{n}", "pid-1", status="APPROVED")
    experiment_screen(experiment=experiment)
    prolific_api.expect(
        "POST",
        "submissions/bonus-payments/",
        {"study_id": "6740bb", "csv_bonuses": "pid-1,0.10\n"},
        status=201,
        answer={
            "id": "bulk-1",
            "study": "6740bb",
            "amount": 10.0,
            "fees": 3.33,
            "total_amount": 13.33,
        },
    )
    for _ in range(5):  # the pay call times out: did it go through?
        prolific_api.expect(
            "POST", "bulk-bonus-payments/bulk-1/pay/", None, status=504, answer=None
        )
    with pytest.raises(PlatformError, match="outcome is unknown"):
        payments_execute(experiment=experiment)
    row = Payment.objects.get()
    assert (row.status, row.external_ref) == ("sent", "bulk-1")

    # Prolific's pay is not idempotent: the bonus is looked for, not paid again.
    prolific_api.expect(
        "GET",
        "submissions/sub-2/",
        answer={"id": "sub-2", "status": "APPROVED", "bonus_payments": []},
    )
    report = payments_execute(experiment=experiment)
    assert report.unknown == 1 and "CHECK   bonus bulk-1" in report.lines[0]
    prolific_api.expect(
        "GET",
        "submissions/sub-2/",
        answer={"id": "sub-2", "status": "APPROVED", "bonus_payments": [10.0]},
    )
    assert payments_execute(experiment=experiment).confirmed == 1
    assert Payment.objects.get().status == "confirmed"


def test_raters_at_the_cap_join_the_block_list(prolific_api: ProlificAPI) -> None:
    experiment = ExperimentFactory(settings={"max_sessions_per_rater": 1})
    published(experiment, STUDY, platform="prolific", sandbox=False)
    CapList.objects.create(experiment=experiment, platform="prolific", external_id="group-1")
    session(experiment, "pid-1", "sub-1", STUDY, platform="prolific")
    prolific_api.expect(
        "GET",
        f"submissions/?study={STUDY}&page_size=100",
        answer=page([submission("sub-1", "pid-1")]),
    )
    prolific_api.expect(
        "POST",
        "participant-groups/group-1/participants/",
        {"participant_ids": ["pid-1"]},
        answer={"results": []},
    )
    assert platform_sync(experiment=experiment).capped == 1
    assert CapGrant.objects.get().status == "confirmed"


def test_messages_go_to_each_raters_study(prolific_api: ProlificAPI) -> None:
    experiment = ExperimentFactory()
    publication = published(experiment, STUDY, platform="prolific", sandbox=False)
    synced(publication, None, "sub-1", "pid-1")
    prolific_api.expect(
        "POST",
        "messages/",
        {"recipient_id": "pid-1", "body": "New sessions\n\nMore to rate.", "study_id": STUDY},
        status=201,
        answer=None,
    )
    out = io.StringIO()
    call_command(
        "message_raters",
        experiment.slug,
        "--platform",
        "prolific",
        "--subject",
        "New sessions",
        "--text",
        "More to rate.",
        stdout=out,
    )
    assert out.getvalue().strip() == "message sent to 1 rater(s)"


def test_no_token_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROLIFIC_TOKEN", raising=False)
    experiment = ExperimentFactory()
    published(experiment, STUDY, platform="prolific", sandbox=False)
    with pytest.raises(PlatformError, match="set PROLIFIC_TOKEN"):
        platform_sync(experiment=experiment)
