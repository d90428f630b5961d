"""An experimenter previews the test as a rater: the same pages, clips and API, but no
session is used up, and nothing of the preview enters screening, MOS, the dashboard, the
exports or the design's lock; a preview works even when no session is open, and is
deleted once left for longer than a session's timeout."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Session
from crowdtest.design.signals import design_lock_reason
from crowdtest.exports import export_one
from crowdtest.rating.assigning import assignments_release_abandoned
from crowdtest.rating.identity import PREVIEW_SALT
from crowdtest.rating.models import Assignment, Rater, Vote
from crowdtest.results.dashboard import overview
from crowdtest.results.models import SessionVerdict, StimulusMOS
from crowdtest.results.services import experiment_screen, mos_compute

from .designs import RaterClient, make_design, take_session

pytestmark = pytest.mark.django_db


def preview_url(staff_client: Client, slug: str) -> str:
    response = staff_client.post(reverse("rating_staff:preview", args=[slug]))
    assert response.status_code == 302
    return str(response["Location"])


def statuses(experiment: Experiment) -> list[tuple[int, str]]:
    return list(
        Session.objects.filter(experiment=experiment).order_by("pk").values_list("pk", "status")
    )


def test_the_preview_is_for_staff_and_says_it_is_a_preview(
    client: Client, staff_client: Client
) -> None:
    experiment = make_design().experiment
    url = preview_url(staff_client, experiment.slug)
    assert urlsplit(url).path == reverse("rating:take", args=[experiment.slug])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert 'id="preview-banner"' in page.content.decode()
    assert "Nothing you do here is recorded" in page.content.decode()

    staff_client.logout()
    refused = client.post(reverse("rating_staff:preview", args=[experiment.slug]))
    assert refused.status_code in (302, 403) and "preview=" not in refused.get("Location", "")


def test_a_preview_session_uses_nothing_up_and_enters_no_result(
    client: Client, staff_client: Client
) -> None:
    built = make_design()
    experiment = built.experiment
    before = statuses(experiment)
    token = parse_qs(urlsplit(preview_url(staff_client, experiment.slug)).query)["preview"][0]
    participant = signing.TimestampSigner(salt=PREVIEW_SALT).unsign_object(token)["p"]
    rc = RaterClient(client, experiment, participant, platform="staff")
    state = take_session(rc)
    assert state["stage"] == "finished"
    assert Vote.objects.filter(rater__platform="staff").exists()  # the flow was the real one

    assert statuses(experiment) == before  # no session taken, swapped or done
    assert not SessionVerdict.objects.exists()  # not screened when it finished
    assert experiment_screen(experiment=experiment).sessions == 0
    mos_compute(experiment=experiment)
    assert not StimulusMOS.objects.filter(experiment=experiment).exists()
    assert not Vote.objects.crowd().filter(experiment=experiment).exists()
    seen = overview(experiment=experiment)
    assert (seen.sessions_completed, seen.raters, seen.votes, seen.votes_unscreened) == (0, 0, 0, 0)
    for name in ("votes.csv", "raters.csv", "verdicts.csv"):
        rows = list(csv.reader(io.StringIO(export_one(experiment, name))))
        assert len(rows) == 1, f"{name} holds the preview: {rows[1:]}"
    assert design_lock_reason(experiment=experiment) is None  # may still be rebuilt

    # A real rater then gets a session as if nobody had previewed.
    crowd = RaterClient(client, experiment, "real-1")
    assert take_session(crowd)["stage"] == "finished"
    assert Vote.objects.crowd().filter(experiment=experiment).exists()


def test_a_preview_works_when_no_session_is_open(client: Client, staff_client: Client) -> None:
    experiment = make_design().experiment
    Session.objects.filter(experiment=experiment).update(status=Session.Status.DONE)
    before = statuses(experiment)
    token = parse_qs(urlsplit(preview_url(staff_client, experiment.slug)).query)["preview"][0]
    participant = signing.TimestampSigner(salt=PREVIEW_SALT).unsign_object(token)["p"]
    state = RaterClient(client, experiment, participant, platform="staff").post("consent").json()
    assert state["stage"] in ("setup", "questions")
    assert statuses(experiment) == before
    real = RaterClient(client, experiment, "real-2").post("consent")
    assert real.status_code == 409 and real.json()["code"] == "no_session"


def test_a_preview_link_expires(client: Client) -> None:
    experiment = make_design().experiment
    old = signing.TimestampSigner(salt=PREVIEW_SALT)
    token = old.sign_object({"e": experiment.pk, "p": "s-old"})
    later = timezone.now() + timedelta(hours=13)
    from unittest import mock  # the clock is the boundary here

    with mock.patch("time.time", return_value=later.timestamp()):
        page = client.get(reverse("rating:take", args=[experiment.slug]), {"preview": token})
    assert page.status_code == 400 and "preview link has expired" in page.content.decode()


def test_a_preview_left_alone_is_deleted_after_the_session_timeout(client: Client) -> None:
    experiment = make_design().experiment
    rc = RaterClient(client, experiment, "s-left", platform="staff")
    rc.post("consent")
    assert Assignment.objects.filter(rater__platform="staff").count() == 1
    later = timezone.now() + timedelta(minutes=experiment.config.session_timeout_minutes + 1)
    assignments_release_abandoned(experiment=experiment, now=later)  # a rater's start
    assert Rater.objects.filter(platform="staff").exists()  # not its work: the beat's
    assignments_release_abandoned(now=later)  # the periodic release
    assert not Rater.objects.filter(platform="staff").exists()
    assert not Assignment.objects.filter(rater__platform="staff").exists()
