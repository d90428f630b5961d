"""A rater arriving from MTurk in Debian's Chromium: the preview shows the instructions
and starts nothing; after accepting, the same URL with MTurk's ids takes a whole
session, and the finish form posts the assignmentId back to turkSubmitTo's
/mturk/externalSubmit (MTurk's sandbox host, answered by the test through page.route)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from playwright.sync_api import Page, Route
from pytest_django.live_server_helper import LiveServer

from crowdtest.corpus.models import Experiment
from crowdtest.platforms.models import Publication
from crowdtest.rating.models import Assignment, Rater, Vote
from tests.crowdtest.platforms.helpers import published
from tests.crowdtest.rating.designs import browser_design

from .session import answer_to_the_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SANDBOX = "https://workersandbox.mturk.com"


@pytest.fixture
def experiment() -> Experiment:
    built = browser_design()
    published(built.experiment, "3HITBROWSER")
    return built.experiment


def take_url(live_server: LiveServer, experiment: Experiment, **params: str) -> str:
    return f"{live_server.url}/take/{experiment.slug}/?{urlencode(params)}"


def test_preview_accept_finish_and_post_back_to_mturk(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    # Preview: the instructions, nothing to start, no rater made.
    page.goto(
        take_url(
            live_server, experiment, assignmentId="ASSIGNMENT_ID_NOT_AVAILABLE", hitId="3HITBROWSER"
        )
    )
    assert "Accept the task to start the test" in (page.text_content("body") or "")
    assert page.query_selector("#consent-button") is None
    assert not Rater.objects.exists() and not Assignment.objects.exists()

    posted: list[dict[str, Any]] = []

    def external_submit(route: Route) -> None:
        request = route.request
        posted.append(
            {
                "method": request.method,
                "url": request.url,
                "form": parse_qs(request.post_data or ""),
            }
        )
        route.fulfill(
            status=200,
            content_type="text/html",
            body="<html><body><h1>HIT submitted</h1></body></html>",
        )

    page.route(f"{SANDBOX}/mturk/externalSubmit*", external_submit)

    # Accepted: MTurk opens the same URL with the worker's ids.
    page.goto(
        take_url(
            live_server,
            experiment,
            assignmentId="3ABROWSER",
            hitId="3HITBROWSER",
            workerId="AWBROWSER",
            turkSubmitTo=SANDBOX,
        )
    )
    page.click("#consent-button")
    page.wait_for_selector("#setup-volume:visible")
    page.click("#volume-play")
    page.wait_for_selector("#volume-done:enabled")
    page.click("#volume-done")
    assignment = Assignment.objects.get()
    assert (assignment.rater.platform, assignment.rater.external_id) == ("mturk", "AWBROWSER")
    assert assignment.platform_assignment_id == "3ABROWSER"
    answer_to_the_end(page, assignment)
    assignment.refresh_from_db()
    assert (
        assignment.status == "completed" and Vote.objects.filter(assignment=assignment).count() == 4
    )
    page.click("#mturk-form button[type=submit]")
    page.wait_for_selector("text=HIT submitted")
    [submit] = posted
    assert submit["method"] == "POST"
    assert submit["url"] == f"{SANDBOX}/mturk/externalSubmit"
    assert submit["form"]["assignmentId"] == ["3ABROWSER"]
    assert submit["form"]["completion_code"] == [assignment.completion_code]
    assert submit["form"]["clips_rated"] == ["4"]  # training and rating clips
    assert Publication.objects.get().batches.get().external_id == "3HITBROWSER"
