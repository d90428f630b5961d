"""`sync_platform` on MTurk: assignments listed page by page and matched to sessions; a
forged assignmentId or workerId is refused (never paid, votes invalid, rater blocked);
the cap qualification is granted at the session cap and a worker over it can't start."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks

from crowdtest.platforms.models import AssignmentCheck, CapGrant, CapList, Submission
from crowdtest.platforms.selectors import payment_plan
from crowdtest.rating.models import Rater, Vote
from crowdtest.results.models import SessionVerdict
from crowdtest.results.selectors import stimulus_vote_stats
from crowdtest.results.services import experiment_screen
from tests.crowdtest.rating.designs import RaterClient, make_design, take_session
from tests.factories import ExperimentFactory

from .helpers import mturk_row, published, session, stimuli

pytestmark = pytest.mark.django_db
LONG_AGO = timezone.now() - timedelta(days=1)


def sync(slug: str) -> str:
    out = io.StringIO()
    call_command("sync_platform", slug, stdout=out)
    return out.getvalue()


def listing(stub: Stubber, hit: str, *pages: list[dict[str, Any]]) -> None:
    for number, rows in enumerate(pages):
        answer: dict[str, Any] = {"NumResults": len(rows), "Assignments": rows}
        if number < len(pages) - 1:
            answer["NextToken"] = f"{hit}-page-{number + 2}"
        params: dict[str, Any] = {"HITId": hit, "MaxResults": 100}
        if number:
            params["NextToken"] = f"{hit}-page-{number + 1}"
        stub.add_response("list_assignments_for_hit", answer, params)


def test_sync_matches_assignments_across_pages_and_refuses_forged_ones(stub: Stubber) -> None:
    experiment = ExperimentFactory()
    published(experiment, "3HIT")
    rated = stimuli(experiment)
    real = [session(experiment, f"AW{n}", f"3A{n}", "3HIT", on=rated) for n in (1, 2, 3)]
    forged_id = session(experiment, "AW9", "3FORGED", "3HIT", finished_at=LONG_AGO, on=rated)
    forged_worker = session(experiment, "AWFAKE", "3A3", "3HIT", finished_at=LONG_AGO, on=rated)
    other_hit = session(experiment, "AW8", "3A8", "3NOTOURS", on=rated)
    recent = session(experiment, "AW7", "3A7", "3HIT", on=rated)  # may still be submitted
    experiment_screen(experiment=experiment)
    listing(
        stub,
        "3HIT",
        [mturk_row("3A1", "AW1", "3HIT"), mturk_row("3A2", "AW2", "3HIT")],
        [mturk_row("3A3", "AW3", "3HIT"), mturk_row("3STRAY", "AWX", "3HIT")],
    )
    out = sync(experiment.slug)
    assert "4 submissions synced: 3 matched, 1 with no session here" in out
    assert "3 verified, 1 not on the platform yet, 3 forged" in out
    states = dict(AssignmentCheck.objects.values_list("assignment_id", "state"))
    assert [states[a.pk] for a in real] == ["verified"] * 3
    assert states[recent.pk] == "unverified"
    for forged in (forged_id, forged_worker, other_hit):
        assert states[forged.pk] == "forged"
        assert SessionVerdict.objects.get(assignment=forged).valid is False
        assert not Vote.objects.filter(assignment=forged, valid=True).exists()
        assert Rater.objects.get(pk=forged.rater_id).blocked
    # MOS counts the three real sessions and the one still unverified, not the forged.
    stats = stimulus_vote_stats(experiment=experiment)
    assert {(s.n, s.votes_total) for s in stats} == {(4, 7)}
    detail = AssignmentCheck.objects.get(assignment=forged_worker).detail
    assert detail == "MTurk says AW3 did 3A3, not AWFAKE"
    assert "3NOTOURS is not one of this experiment's MTurk batches" in out
    assert Submission.objects.get(external_id="3STRAY").match == "unknown_here"

    # Never paid: the plan approves the three real sessions and rejects the stray work.
    plan = payment_plan(experiment=experiment)
    assert sorted((i.kind, i.submission_id) for i in plan.items) == [
        ("approve", "3A1"),
        ("approve", "3A2"),
        ("approve", "3A3"),
        ("reject", "3STRAY"),
    ]

    # A second sync refuses nothing twice.
    listing(stub, "3HIT", [mturk_row("3A1", "AW1", "3HIT", "Approved")])
    sync(experiment.slug)
    assert forged_id.verdict_overrides.count() == 1


def test_the_cap_qualification_is_granted_at_the_20th_session(
    client: Client,
    stub: Stubber,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    built = make_design(votes=4)
    experiment = built.experiment
    experiment.settings = {**experiment.settings, "max_sessions_per_rater": 20}
    experiment.save()
    CapList.objects.create(experiment=experiment, platform="mturk", sandbox=True, external_id="3Q")
    rated = stimuli(experiment)
    for n in range(19):
        session(experiment, "AWCAP", f"3OLD{n}", "3HIT", on=rated)
    rc = RaterClient(
        client,
        experiment,
        "AWCAP",
        "mturk",
        assignment_id="3A20",
        batch_id="3HIT",
        return_url="https://workersandbox.mturk.com",
    )
    stub.add_response(
        "associate_qualification_with_worker",
        {},
        {
            "QualificationTypeId": "3Q",
            "WorkerId": "AWCAP",
            "IntegerValue": 1,
            "SendNotification": False,
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        take_session(rc)
    assert CapGrant.objects.get().status == "confirmed"

    # Over the cap: a new HIT's assignment can't start a session.
    again = RaterClient(
        client,
        experiment,
        "AWCAP",
        "mturk",
        assignment_id="3A21",
        batch_id="3HIT",
        return_url="https://workersandbox.mturk.com",
    )
    response = again.post("consent")
    assert response.status_code == 403 and response.json()["code"] == "over_cap"


def test_a_failed_grant_is_caught_up_at_the_next_sync(stub: Stubber) -> None:
    experiment = ExperimentFactory(settings={"max_sessions_per_rater": 2})
    published(experiment, "3HIT")
    CapList.objects.create(experiment=experiment, platform="mturk", sandbox=True, external_id="3Q")
    rated = stimuli(experiment)
    for n in (1, 2):
        session(experiment, "AW1", f"3A{n}", "3HIT", on=rated)
    listing(stub, "3HIT", [mturk_row("3A1", "AW1", "3HIT"), mturk_row("3A2", "AW1", "3HIT")])
    stub.add_client_error("associate_qualification_with_worker", "RequestError", "nope", 400)
    assert "put on the cap list" not in sync(experiment.slug)
    assert CapGrant.objects.get().status == "failed"
    listing(stub, "3HIT", [])
    stub.add_response("associate_qualification_with_worker", {}, None)
    assert "1 rater(s) put on the cap list" in sync(experiment.slug)
    assert CapGrant.objects.get().status == "confirmed"
