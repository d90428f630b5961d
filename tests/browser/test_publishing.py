"""An experimenter publishes on Prolific from the Platform tab in Chromium, sees the cost
first, confirms, then pauses the study and adds places to it, each through its own
confirmation. Prolific's API is stubbed at its HTTP boundary (the live server runs in this
process, so the stub answers its requests)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from crowdtest.platforms.models import Publication
from tests.crowdtest.platforms.conftest import prolific_api, sleeps  # noqa: F401
from tests.crowdtest.platforms.fakes import ANY_BODY, ProlificAPI
from tests.crowdtest.rating.designs import browser_design

from .axe import axe_source, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STUDY = "6740aa00f1d2c3b4a5968778"


def test_publish_then_pause_and_add_places_on_prolific(
    page: Page,
    live_server: LiveServer,
    admin_user_account: User,
    settings: Settings,
    prolific_api: ProlificAPI,  # noqa: F811
) -> None:
    settings.PUBLIC_BASE_URL = "https://listen.example.org"
    experiment = browser_design().experiment
    page.goto(f"{live_server.url}/login/?next=/experiments/{experiment.slug}/platform/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin-pass-1234")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#publish-form")

    page.select_option("#publish-platform", "prolific")
    page.fill("#publish-sessions", "2")
    page.click("#publish-form button[type=submit]")
    page.wait_for_selector("#publish-confirm-form")
    assert "This publishes 2 sessions on prolific" in (page.text_content("#publish-what") or "")
    button = page.text_content("#publish-confirm-form button") or ""
    assert "Publish 2 sessions on prolific for at most $1.34" in button
    assert serious_violations(page, axe_source()) == []
    assert not Publication.objects.exists()  # nothing sent to show the cost

    prolific_api.expect("POST", "participant-groups/", ANY_BODY, status=201, answer={"id": "g1"})
    prolific_api.expect("POST", "studies/", ANY_BODY, status=201, answer={"id": STUDY})
    prolific_api.expect("POST", f"studies/{STUDY}/transition/", {"action": "PUBLISH"})
    page.click("#publish-confirm-form button")
    page.wait_for_selector("#publications td.control")
    assert "Published 2 sessions on prolific" in (page.text_content(".messages") or "")
    publication = Publication.objects.get()

    control = f"#control-{publication.pk}"
    page.click(f"{control} a:has-text('Pause')")
    page.wait_for_selector("#control-form")
    assert "pauses it on prolific" in (page.text_content("#control-what") or "")
    prolific_api.expect("POST", f"studies/{STUDY}/transition/", {"action": "PAUSE"})
    page.click("#control-form button")
    page.wait_for_selector(f"{control} a:has-text('Resume')")
    publication.refresh_from_db()
    assert publication.status == "paused"

    page.click(f"{control} a:has-text('Resume')")
    prolific_api.expect("POST", f"studies/{STUDY}/transition/", {"action": "START"})
    page.click("#control-form button")
    page.wait_for_selector(f"{control} button:has-text('Add sessions')")

    page.fill(f"#add-{publication.pk}", "3")
    page.click(f"{control} button:has-text('Add sessions')")
    page.wait_for_selector("#control-estimate")
    assert "for at most $2.01" in (page.text_content("#control-form button") or "")
    prolific_api.expect(
        "PATCH", f"studies/{STUDY}/", {"total_available_places": 5}, answer={"id": STUDY}
    )
    page.click("#control-form button")
    page.wait_for_selector(".messages")
    assert "Added 3 sessions" in (page.text_content(".messages") or "")
    publication.refresh_from_db()
    assert (publication.status, publication.sessions) == ("published", 5)
