"""A Prolific rater's place is checked with Prolific right after consent: a SESSION_ID
Prolific never issued, or issued to another participant or for another study, stops the
session and blocks the rater before they rate anything. Prolific's API is stubbed at its
HTTP boundary with the shapes it answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks

from crowdtest.corpus.models import Experiment
from crowdtest.platforms.models import AssignmentCheck
from crowdtest.rating.models import Assignment, Rater
from tests.crowdtest.rating.designs import RaterClient, make_design

from .fakes import ProlificAPI, submission
from .helpers import published

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment() -> Experiment:
    experiment = make_design().experiment
    published(experiment, "study-1", platform="prolific", sandbox=False)
    return experiment


def consent(
    client: Client, experiment: Experiment, pid: str, session_id: str, study: str
) -> RaterClient:
    rc = RaterClient(
        client, experiment, pid, platform="prolific", assignment_id=session_id, batch_id=study
    )
    assert rc.post("consent").status_code == 200
    return rc


def test_a_place_prolific_confirms_goes_on(
    client: Client,
    experiment: Experiment,
    prolific_api: ProlificAPI,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    prolific_api.expect(
        "GET", "submissions/sub-1/", answer=submission("sub-1", "pid-1", "ACTIVE", "study-1")
    )
    with django_capture_on_commit_callbacks(execute=True):
        rc = consent(client, experiment, "pid-1", "sub-1", "study-1")
    prolific_api.assert_done()
    check = AssignmentCheck.objects.get()
    assert check.state == AssignmentCheck.State.VERIFIED
    assert rc.state()["stage"] == "setup"


@pytest.mark.parametrize(
    ("answer", "status", "why"),
    [
        ({"error": {"detail": "Not found."}}, 404, "has no submission sub-9"),
        (submission("sub-9", "pid-other", "ACTIVE", "study-1"), 200, "pid-other's, not pid-1's"),
        (
            submission("sub-9", "pid-1", "ACTIVE", "study-elsewhere"),
            200,
            "of study study-elsewhere",
        ),
    ],
)
def test_a_place_prolific_does_not_know_stops_the_session(
    client: Client,
    experiment: Experiment,
    prolific_api: ProlificAPI,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    answer: Any,
    status: int,
    why: str,
) -> None:
    prolific_api.expect("GET", "submissions/sub-9/", status=status, answer=answer)
    with django_capture_on_commit_callbacks(execute=True):
        rc = consent(client, experiment, "pid-1", "sub-9", "study-1")
    prolific_api.assert_done()
    check = AssignmentCheck.objects.get()
    assert check.state == AssignmentCheck.State.FORGED and why in check.detail
    assert Rater.objects.get(external_id="pid-1").blocked
    assert Assignment.objects.get().status == Assignment.Status.STOPPED
    state = rc.state()
    assert state["stage"] == "stopped"
    assert state["message"] == "You can no longer take part in this test."
    assert rc.post("consent").status_code in (403, 409)  # no other session either


def test_a_study_crowdtest_did_not_publish_is_refused_without_asking(
    client: Client,
    experiment: Experiment,
    prolific_api: ProlificAPI,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        consent(client, experiment, "pid-2", "sub-2", "study-made-up")
    prolific_api.assert_done()  # nothing was asked
    assert AssignmentCheck.objects.get().state == AssignmentCheck.State.FORGED
    assert Rater.objects.get(external_id="pid-2").blocked


def test_when_prolific_is_down_the_sync_checks_later(
    client: Client,
    experiment: Experiment,
    prolific_api: ProlificAPI,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    for _ in range(5):  # the gateway tries a failing Prolific five times before it gives up
        prolific_api.expect("GET", "submissions/sub-3/", status=503, answer={})
    with django_capture_on_commit_callbacks(execute=True):
        rc = consent(client, experiment, "pid-3", "sub-3", "study-1")
    assert not AssignmentCheck.objects.exists()
    assert not Rater.objects.get(external_id="pid-3").blocked
    assert rc.state()["stage"] == "setup"
