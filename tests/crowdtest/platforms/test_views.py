"""The Platform tab: the MTurk dates said plainly, the cost, publications, sync, the
payment dry run, and payments executed only with `platforms.execute_payments`."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from botocore.stub import Stubber
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoCaptureOnCommitCallbacks

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.models import Job
from crowdtest.platforms.models import Payment
from crowdtest.platforms.selectors import APPROVE_FEEDBACK, platform_page
from crowdtest.rating.links import links_create
from crowdtest.results.services import experiment_screen
from tests.crowdtest.rating.designs import make_design

from .helpers import mturk_row, published, session, stimuli, synced

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment() -> Experiment:
    experiment = make_design().experiment
    publication = published(experiment, "3HIT")
    assignment = session(experiment, "AW1", "3A1", "3HIT", on=stimuli(experiment))
    synced(publication, assignment, "3A1", "AW1")
    experiment_screen(experiment=experiment)
    return experiment


def url(experiment: Experiment, action: str = "") -> str:
    return f"/experiments/{experiment.slug}/platform/{action}"


def test_the_page_says_the_dates_and_shows_cost_and_payments(
    staff_client: Client, experiment: Experiment
) -> None:
    response = staff_client.get(url(experiment))
    page = response.content.decode()
    assert response.status_code == 200
    assert "closed Mechanical Turk to new customers on 30 July 2026" in page
    assert "closes permanently on 30 September 2026" in page
    assert 'id="estimate-mturk"' in page and 'id="estimate-prolific"' in page
    assert "6 sessions x $0.50" in page
    # The whole design is priced too, open or not: its 6 sessions and the one taken.
    planned = re.search(r'id="estimate-planned">.*?</table>', page, re.S)
    assert planned and planned.group(0).count("7 x $0.50") == 2
    # Each total shows what it is made of (rewards, the platform's fee, bonuses at most).
    for est in platform_page(experiment=experiment)["estimates_planned"]:
        made_of = ", ".join(f"{line.label} ${line.total}" for line in est.lines)
        assert f'<td>{made_of}</td><td class="num">${est.total}</td>' in planned.group(0)
    assert "1 approvals ($0.50), 0 rejections" in page
    assert "3HIT" in page and "PUBLIC_BASE_URL" in page
    assert "Review and execute these payments" not in page
    assert 'href="/experiments/' in page and ">Platform</a>" in page


def test_executing_payments_needs_the_permission(
    staff_client: Client,
    staff_user: User,
    experiment: Experiment,
    stub: Stubber,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    assert staff_client.post(url(experiment, "pay/")).status_code == 403
    assert not Job.objects.exists()
    staff_user.user_permissions.add(Permission.objects.get(codename="execute_payments"))
    staff_user = type(staff_user).objects.get(pk=staff_user.pk)
    staff_client.force_login(staff_user)
    assert "Review and execute these payments" in staff_client.get(url(experiment)).content.decode()
    # A POST that did not come from the confirmation page executes nothing.
    refused = staff_client.post(url(experiment, "pay/"))
    assert refused.status_code == 302 and refused["Location"].endswith("pay/confirm/")
    assert not Job.objects.exists()
    confirm = staff_client.get(url(experiment, "pay/confirm/")).content.decode()
    assert "on <strong>mturk</strong>" in confirm and "1 approval ($0.50)" in confirm
    total = re.search(r'id="pay-total">Total charged to your account: <strong>\$([\d.]+)', confirm)
    assert total and Decimal(total.group(1)) > Decimal("0.50")  # the reward and MTurk's fee
    plan = re.search(r'name="plan" value="([0-9a-f]+)"', confirm)
    assert plan
    assert f"Pay ${total.group(1)} on mturk" in confirm
    stub.add_response(
        "approve_assignment",
        {},
        {
            "AssignmentId": "3A1",
            "RequesterFeedback": APPROVE_FEEDBACK,
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url(experiment, "pay/"), {"plan": plan.group(1)})
    assert response.status_code == 302
    assert Payment.objects.get().status == "confirmed"
    assert Job.objects.get(kind="platform_pay").status == "succeeded"


def test_sync_from_the_page(
    staff_client: Client,
    experiment: Experiment,
    stub: Stubber,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    stub.add_response(
        "list_assignments_for_hit",
        {"NumResults": 1, "Assignments": [mturk_row("3A1", "AW1", "3HIT")]},
        {"HITId": "3HIT", "MaxResults": 100},
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(url(experiment, "sync/")).status_code == 302
    job = Job.objects.get(kind="platform_sync")
    assert job.status == "succeeded" and "1 matched" in job.message


def test_the_platform_choice(staff_client: Client, experiment: Experiment) -> None:
    staff_client.post(url(experiment, "choose/"), {"platform": "prolific"})
    experiment.refresh_from_db()
    assert experiment.config.platform == "prolific"
    response = staff_client.post(url(experiment, "choose/"), {"platform": "amazon"}, follow=True)
    assert "Choose a platform" in response.content.decode()


def test_an_open_link_is_said_to_hold_no_per_person_cap(
    staff_client: Client, experiment: Experiment
) -> None:
    staff_client.post(url(experiment, "choose/"), {"platform": "mturk"})
    assert 'id="open-link-warning"' not in staff_client.get(url(experiment)).content.decode()
    links_create(experiment=experiment)  # the open link exists now
    page = staff_client.get(url(experiment)).content.decode()
    assert 'id="open-link-warning"' in page and "can't hold a per-person session cap" in page
    assert f"/experiments/{experiment.slug}/sessions/#links" in page  # participant links


def test_raters_and_strangers_see_nothing(client: Client, experiment: Experiment) -> None:
    assert client.get(url(experiment)).status_code == 302  # to the login page
    assert client.post(url(experiment, "pay/")).status_code == 302


@pytest.mark.parametrize(
    "model",
    [
        "publication",
        "submission",
        "assignmentcheck",
        "payment",
        "caplist",
        "capgrant",
        "importedassignment",
    ],
)
def test_admin_lists(
    client: Client, admin_user_account: User, experiment: Experiment, model: str
) -> None:
    client.force_login(admin_user_account)
    assert client.get(f"/admin/platforms/{model}/").status_code == 200


def test_the_page_reads_the_same_number_of_queries_for_more_sessions(
    staff_client: Client, experiment: Experiment
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(url(experiment)).status_code == 200
        return len(captured)

    before = queries()
    publication = experiment.publications.get()
    rated = stimuli(experiment)
    for n in range(2, 6):
        assignment = session(experiment, f"AW{n}", f"3A{n}", "3HIT", on=rated)
        synced(publication, assignment, f"3A{n}", f"AW{n}")
    experiment_screen(experiment=experiment)
    assert queries() == before
