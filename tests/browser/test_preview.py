"""An experimenter previews the test from a tab of the experiment, in Chromium: a new tab
opens the rater's page with a preview banner, a whole session can be taken there, and
afterwards no session was used up and nothing entered screening or the results."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from crowdtest.design.models import Session
from crowdtest.rating.models import Assignment, Vote
from crowdtest.results.models import SessionVerdict
from tests.crowdtest.rating.designs import browser_design

from .session import answer_to_the_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_whole_preview_records_nothing(
    page: Page, live_server: LiveServer, staff_user: User
) -> None:
    experiment = browser_design().experiment
    sessions_before = list(Session.objects.order_by("pk").values_list("pk", "status"))
    page.goto(f"{live_server.url}/login/?next=/experiments/{experiment.slug}/results/")
    page.fill("#id_username", "experimenter")
    page.fill("#id_password", "listen-carefully-42")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(".tabs a[aria-current=page]:has-text('Results')")

    with page.context.expect_page() as opened:
        page.click(".preview-form button")
    rater = opened.value
    rater.set_default_timeout(15_000)
    rater.wait_for_selector("#preview-banner")
    assert "Nothing you do here is recorded" in (rater.text_content("#preview-banner") or "")
    rater.click("#consent-button")
    rater.wait_for_selector("#setup-volume:visible")
    rater.click("#volume-play")
    rater.wait_for_selector("#volume-done:enabled")
    rater.click("#volume-done")
    rater.wait_for_selector("#setup-digits:visible")
    assignment = Assignment.objects.get()
    assert assignment.rater.platform == "staff"
    answer_to_the_end(rater, assignment)

    assert list(Session.objects.order_by("pk").values_list("pk", "status")) == sessions_before
    assert not SessionVerdict.objects.exists()
    assert not Vote.objects.crowd().exists()
    page.click(".tabs a:has-text('Sessions')")
    page.wait_for_selector(".tabs a[aria-current=page]:has-text('Sessions')")
    assert page.locator("#no-open-sessions").count() == 0  # every session still open
