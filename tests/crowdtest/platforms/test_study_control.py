"""Study control from the Platform tab: adding sessions, pausing, resuming and closing a
publication, each through a confirmation naming the platform (and the amount, for added
sessions) before anything reaches the platform. MTurk is stubbed at botocore's boundary,
Prolific at its HTTP boundary."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from django.core.management import CommandError, call_command
from django.test import Client

from crowdtest.corpus.models import Experiment
from crowdtest.platforms.models import Batch, Publication
from crowdtest.platforms.mturk import EXPIRE_NOW
from crowdtest.platforms.services.publish import places_outstanding
from tests.crowdtest.rating.designs import make_design

from .fakes import ProlificAPI
from .helpers import published

pytestmark = pytest.mark.django_db
STUDY = "6740aa00f1d2c3b4a5968778"


@pytest.fixture
def experiment() -> Experiment:
    return make_design().experiment  # 6 open rating sessions


def confirm_page(client: Client, p: Publication, action: str, **query: Any) -> tuple[str, str]:
    """The confirmation page's text and the fingerprint its button sends."""
    response = client.get(
        f"/experiments/{p.experiment.slug}/platform/publications/{p.pk}/{action}/confirm/", query
    )
    assert response.status_code == 200, response
    html = response.content.decode()
    found = re.search(r'name="confirm" value="([^"]+)"', html)
    assert found
    return html, found.group(1)


def send(client: Client, p: Publication, action: str, confirm: str, **data: Any) -> str:
    response = client.post(
        f"/experiments/{p.experiment.slug}/platform/publications/{p.pk}/{action}/",
        {"confirm": confirm, **data},
        follow=True,
    )
    return str(response.content.decode())


def expire(stub: Stubber, hit: str, at: Any = EXPIRE_NOW) -> None:
    stub.add_response("update_expiration_for_hit", {}, {"HITId": hit, "ExpireAt": at})


def test_mturk_pause_resume_close(
    admin_client: Client, experiment: Experiment, stub: Stubber
) -> None:
    p = published(experiment, "3HITA", "3HITB")
    page = admin_client.get(f"/experiments/{experiment.slug}/platform/").content.decode()
    assert f'id="control-{p.pk}"' in page and "Pause</a>" in page

    html, fingerprint = confirm_page(admin_client, p, "pause")
    assert "This <strong>pauses</strong> it on <strong>mturk sandbox</strong>" in html
    assert f"Pause publication {p.pk} on mturk</button>" in html
    p.refresh_from_db()
    assert p.status == "published"  # showing it sent nothing

    expire(stub, "3HITA")
    expire(stub, "3HITB")
    done = send(admin_client, p, "pause", fingerprint)
    assert f"Publication {p.pk} on mturk sandbox is paused." in done
    p.refresh_from_db()
    assert p.status == "paused"
    # The same confirmation again does nothing (no call is stubbed for it).
    again = send(admin_client, p, "pause", fingerprint)
    assert "it can&#x27;t be paused now" in again

    html, fingerprint = confirm_page(admin_client, p, "resume")
    assert "listed for another 7 days" in html
    expire(stub, "3HITA", ANY)
    expire(stub, "3HITB", ANY)
    send(admin_client, p, "resume", fingerprint)
    p.refresh_from_db()
    assert p.status == "published"

    html, fingerprint = confirm_page(admin_client, p, "close")
    assert "for good" in html
    expire(stub, "3HITA")
    expire(stub, "3HITB")
    send(admin_client, p, "close", fingerprint)
    p.refresh_from_db()
    assert p.status == "closed"
    refused = admin_client.get(
        f"/experiments/{experiment.slug}/platform/publications/{p.pk}/resume/confirm/",
        follow=True,
    ).content.decode()
    assert f"Publication {p.pk} is closed: it can&#x27;t be resumed now." in refused


def test_a_pause_cut_short_says_how_far_it_got_and_can_be_finished(
    admin_client: Client, experiment: Experiment, stub: Stubber
) -> None:
    p = published(experiment, "3HITA", "3HITB")
    _, fingerprint = confirm_page(admin_client, p, "pause")
    expire(stub, "3HITA")
    stub.add_client_error(
        "update_expiration_for_hit",
        "RequestError",
        "This HIT is currently in the state 'Disposed'",
        expected_params={"HITId": "3HITB", "ExpireAt": EXPIRE_NOW},
    )
    said = send(admin_client, p, "pause", fingerprint)
    assert "1 of 2 batch(es) were paused; the publication is still published" in said
    p.refresh_from_db()
    assert p.status == "published"

    _, fingerprint = confirm_page(admin_client, p, "pause")
    expire(stub, "3HITA")
    expire(stub, "3HITB")
    send(admin_client, p, "pause", fingerprint)
    p.refresh_from_db()
    assert p.status == "paused"


def test_mturk_sessions_added_as_new_hits_after_seeing_the_cost(
    admin_client: Client, experiment: Experiment, stub: Stubber, https: str
) -> None:
    p = published(experiment, "3HITA", places=4)
    p.options = {"per_hit": 9, "lifetime_days": 2}
    p.save(update_fields=["options"])
    html, fingerprint = confirm_page(admin_client, p, "add", sessions=12)
    assert "This adds <strong>12 sessions</strong> on <strong>mturk sandbox</strong>" in html
    total = re.search(r"for at most \$([\d.]+)</button>", html)
    assert total and total.group(1) == "7.20"  # 12 x $0.50 and MTurk's 20 %
    assert "more than the 6 open sessions" in html  # 12 new + 4 still open

    for hit, size in (("3HITC", 9), ("3HITD", 3)):
        stub.add_response(
            "create_hit_with_hit_type",
            {"HIT": {"HITId": hit, "HITGroupId": "3GROUP", "MaxAssignments": size}},
            {
                "HITTypeId": "3TYPE",
                "MaxAssignments": size,
                "LifetimeInSeconds": 2 * 24 * 3600,
                "Question": ANY,
                "RequesterAnnotation": f"crowdtest:{experiment.slug}:{p.pk}",
                "UniqueRequestToken": ANY,
            },
        )
    done = send(admin_client, p, "add", fingerprint, sessions=12)
    assert f"Added 12 sessions to publication {p.pk} on mturk sandbox, at most $7.20" in done
    p.refresh_from_db()
    assert p.sessions == 16
    assert list(p.batches.values_list("external_id", "places")) == [
        ("3HITA", 4),
        ("3HITC", 9),
        ("3HITD", 3),
    ]
    # Sent twice (a double click): the second is refused, nothing more is created.
    assert "changed since this was shown" in send(admin_client, p, "add", fingerprint, sessions=12)
    assert Batch.objects.count() == 3


def test_prolific_places_added_paused_resumed_stopped(
    admin_client: Client, experiment: Experiment, prolific_api: ProlificAPI
) -> None:
    p = published(experiment, STUDY, platform="prolific", sandbox=False, places=5)
    html, fingerprint = confirm_page(admin_client, p, "add", sessions=3)
    assert "as more places in the same study" in html
    total = re.search(r"for at most \$([\d.]+)</button>", html)
    assert total and total.group(1) == "2.01"  # 3 x ($0.50 + Prolific's 33.3 %)
    prolific_api.expect(
        "PATCH",
        f"studies/{STUDY}/",
        {"total_available_places": 8},
        answer={"id": STUDY, "total_available_places": 8},
    )
    send(admin_client, p, "add", fingerprint, sessions=3)
    p.refresh_from_db()
    assert (p.sessions, p.batches.get().places) == (8, 8)

    for action, sent, status in (
        ("pause", "PAUSE", "paused"),
        ("resume", "START", "published"),
        ("close", "STOP", "closed"),
    ):
        html, fingerprint = confirm_page(admin_client, p, action)
        assert "<strong>prolific</strong>" in html
        prolific_api.expect("POST", f"studies/{STUDY}/transition/", {"action": sent})
        send(admin_client, p, action, fingerprint)
        p.refresh_from_db()
        assert p.status == status


def test_a_refused_prolific_change_is_said_and_undone(
    admin_client: Client, experiment: Experiment, prolific_api: ProlificAPI
) -> None:
    p = published(experiment, STUDY, platform="prolific", sandbox=False, places=5)
    _, fingerprint = confirm_page(admin_client, p, "add", sessions=3)
    prolific_api.expect(
        "PATCH",
        f"studies/{STUDY}/",
        {"total_available_places": 8},
        status=400,
        answer={"error": {"detail": "Study is completed."}},
    )
    said = send(admin_client, p, "add", fingerprint, sessions=3)
    assert "was refused (HTTP 400)" in said and "0 of the 3 sessions were added" in said
    p.refresh_from_db()
    assert (p.sessions, p.batches.get().places) == (5, 5)


@pytest.mark.parametrize(
    ("action", "query", "said"),
    [
        ("add", {"sessions": "lots"}, "must be a whole number"),
        ("add", {}, "Add from 1 to 100,000 sessions"),
        ("add", {"sessions": "0"}, "Add from 1 to 100,000 sessions"),
        ("delete", {}, "is not something a publication can do"),
    ],
)
def test_bad_requests_are_said_and_nothing_is_sent(
    admin_client: Client, experiment: Experiment, action: str, query: dict[str, str], said: str
) -> None:
    p = published(experiment, "3HITA")
    response = admin_client.get(
        f"/experiments/{experiment.slug}/platform/publications/{p.pk}/{action}/confirm/",
        query,
        follow=True,
    )
    assert response.status_code == 200
    assert said in response.content.decode()


def test_direct_links_have_no_study_to_control(
    admin_client: Client, experiment: Experiment
) -> None:
    p = published(experiment, "open", platform="link", sandbox=False, places=1)
    page = admin_client.get(f"/experiments/{experiment.slug}/platform/").content.decode()
    assert "Pause</a>" not in page
    said = admin_client.get(
        f"/experiments/{experiment.slug}/platform/publications/{p.pk}/pause/confirm/",
        follow=True,
    ).content.decode()
    assert "made and shared on the Sessions tab" in said


def test_study_control_needs_the_permission_and_the_right_experiment(
    staff_client: Client, admin_client: Client, experiment: Experiment
) -> None:
    p = published(experiment, "3HITA")
    base = f"/experiments/{experiment.slug}/platform/publications/{p.pk}"
    assert staff_client.get(f"{base}/pause/confirm/").status_code == 403
    assert staff_client.post(f"{base}/pause/", {"confirm": "x"}).status_code == 403
    other = make_design().experiment
    elsewhere = f"/experiments/{other.slug}/platform/publications/{p.pk}/pause/confirm/"
    assert admin_client.get(elsewhere).status_code == 404
    assert admin_client.get(f"{base}/pause/").status_code == 405


def test_a_closed_publication_leaves_no_places_outstanding(experiment: Experiment) -> None:
    p = published(experiment, "3HITA", "3HITB", places=4)
    assert places_outstanding(experiment=experiment, platform="mturk") == 8
    Publication.objects.filter(pk=p.pk).update(status=Publication.Status.CLOSED)
    assert places_outstanding(experiment=experiment, platform="mturk") == 0


def test_the_study_command_says_first_then_does(experiment: Experiment, stub: Stubber) -> None:
    p = published(experiment, "3HITA", places=4)
    out = io.StringIO()
    call_command("study", experiment.slug, str(p.pk), "add", "--sessions", "2", stdout=out)
    assert (
        f"Dry run: would add publication {p.pk} on mturk sandbox: 2 sessions for at most $1.20"
        in out.getvalue()
    )
    expire(stub, "3HITA")
    call_command("study", experiment.slug, str(p.pk), "pause", "--execute", stdout=out)
    assert f"Done: pause publication {p.pk} on mturk sandbox. It is paused" in out.getvalue()
    with pytest.raises(CommandError, match="it can't be paused now"):
        call_command("study", experiment.slug, str(p.pk), "pause", "--execute")
    with pytest.raises(CommandError, match="has no publication 999"):
        call_command("study", experiment.slug, "999", "close")
