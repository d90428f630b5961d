"""Publishing from the Platform tab: the cost and what it buys come first, nothing reaches
the platform until the confirmation names the platform and the amount, and a confirmation
for another plan is refused. MTurk is stubbed at botocore's boundary (Stubber)."""

from __future__ import annotations

import re

import pytest
from botocore.stub import ANY, Stubber
from django.test import Client

from crowdtest.corpus.models import Experiment
from crowdtest.platforms.models import Batch, Publication
from tests.crowdtest.rating.designs import make_design

from .fakes import ANY_BODY, ProlificAPI

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment() -> Experiment:
    return make_design().experiment  # 6 open rating sessions


def url(experiment: Experiment, action: str = "") -> str:
    return f"/experiments/{experiment.slug}/platform/{action}"


def test_publish_on_mturk_after_seeing_the_cost(
    admin_client: Client, experiment: Experiment, https: str, stub: Stubber
) -> None:
    page = admin_client.get(url(experiment)).content.decode()
    assert 'id="publish-form"' in page
    confirm = admin_client.get(
        url(experiment, "publish/confirm/"), {"platform": "mturk", "sessions": "4", "sandbox": "1"}
    )
    html = confirm.content.decode()
    assert "This publishes <strong>4 sessions</strong> on <strong>mturk sandbox</strong>" in html
    total = re.search(r"for at most \$([\d.]+)</button>", html)
    assert total and total.group(1) == "2.40"  # 4 x $0.50 and MTurk's 20 %
    assert not Publication.objects.exists()  # nothing sent to show the cost
    fingerprint = re.search(r'name="confirm" value="([^"]+)"', html)
    assert fingerprint

    # A confirmation of another plan (here: more sessions) publishes nothing.
    stale = admin_client.post(
        url(experiment, "publish/"),
        {"platform": "mturk", "sessions": "5", "sandbox": "1", "confirm": fingerprint.group(1)},
    )
    assert stale.status_code == 302 and "publish/confirm/" in stale["Location"]
    assert not Publication.objects.exists()

    stub.add_response(
        "create_qualification_type",
        {"QualificationType": {"QualificationTypeId": "3CAPQUAL", "Name": "cap"}},
        None,  # its exact parameters: test_mturk_publish.py
    )
    stub.add_response("create_hit_type", {"HITTypeId": "3TYPE"}, None)
    stub.add_response(
        "create_hit_with_hit_type",
        {"HIT": {"HITId": "3HITA", "HITGroupId": "3GROUP", "MaxAssignments": 4}},
        {
            "HITTypeId": "3TYPE",
            "MaxAssignments": 4,
            "LifetimeInSeconds": ANY,
            "Question": ANY,
            "RequesterAnnotation": ANY,
            "UniqueRequestToken": ANY,
        },
    )
    done = admin_client.post(
        url(experiment, "publish/"),
        {"platform": "mturk", "sessions": "4", "sandbox": "1", "confirm": fingerprint.group(1)},
        follow=True,
    )
    publication = Publication.objects.get()
    assert (publication.platform, publication.sandbox, publication.sessions) == ("mturk", True, 4)
    assert list(Batch.objects.values_list("external_id", flat=True)) == ["3HITA"]
    assert "Published 4 sessions on mturk sandbox" in done.content.decode()


def test_publishing_needs_the_permission(staff_client: Client, experiment: Experiment) -> None:
    assert 'id="publish-form"' not in staff_client.get(url(experiment)).content.decode()
    assert staff_client.get(url(experiment, "publish/confirm/")).status_code == 403
    assert staff_client.post(url(experiment, "publish/"), {"platform": "mturk"}).status_code == 403


def test_bad_choices_are_said_not_published(admin_client: Client, experiment: Experiment) -> None:
    response = admin_client.get(
        url(experiment, "publish/confirm/"), {"platform": "mturk", "sessions": "many"}, follow=True
    )
    assert "whole number" in response.content.decode()
    response = admin_client.get(url(experiment, "publish/confirm/"), {"platform": "x"}, follow=True)
    assert "Choose MTurk or Prolific" in response.content.decode()
    assert not Publication.objects.exists()


def test_publish_on_prolific_after_seeing_the_cost(
    admin_client: Client, experiment: Experiment, https: str, prolific_api: ProlificAPI
) -> None:
    confirm = admin_client.get(
        url(experiment, "publish/confirm/"), {"platform": "prolific", "sessions": "3"}
    )
    html = confirm.content.decode()
    assert "This publishes <strong>3 sessions</strong> on <strong>prolific</strong>" in html
    total = re.search(r"for at most \$([\d.]+)</button>", html)
    assert total and total.group(1) == "2.01"  # 3 x $0.50 and Prolific's 33.3 %
    assert "below Prolific&#x27;s minimum" in html  # the hourly rate, said before paying
    fingerprint = re.search(r'name="confirm" value="([^"]+)"', html)
    assert fingerprint
    assert not Publication.objects.exists()

    prolific_api.expect(
        "POST", "participant-groups/", ANY_BODY, status=201, answer={"id": "group-1"}
    )
    prolific_api.expect(
        "POST", "studies/", ANY_BODY, status=201, answer={"id": "study-1", "status": "UNPUBLISHED"}
    )
    prolific_api.expect("POST", "studies/study-1/transition/", {"action": "PUBLISH"})
    done = admin_client.post(
        url(experiment, "publish/"),
        {"platform": "prolific", "sessions": "3", "confirm": fingerprint.group(1)},
        follow=True,
    )
    publication = Publication.objects.get()
    assert (publication.platform, publication.sessions, publication.status) == (
        "prolific",
        3,
        "published",
    )
    assert prolific_api.body(1)["total_available_places"] == 3
    assert prolific_api.body(1)["reward"] == 50
    assert "Published 3 sessions on prolific" in done.content.decode()
    # The publication's row now offers study control.
    page = admin_client.get(url(experiment)).content.decode()
    assert f'id="control-{publication.pk}"' in page
