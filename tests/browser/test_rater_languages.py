"""A rater whose browser speaks German takes a test offered in English and German: the
page, its script and the server's words are German, and so are the digits and traps they
hear; a rater may switch back before starting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation
from playwright.sync_api import Browser, Page
from pytest_django.live_server_helper import LiveServer

from crowdtest.corpus.models import Experiment
from crowdtest.rating.identity import link_token
from crowdtest.rating.models import Assignment, AssignmentItem
from crowdtest.rating.page import page_strings
from tests.crowdtest.rating.designs import browser_design

from .axe import axe_source, serious_violations
from .session import digits_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def experiment() -> Experiment:
    return browser_design(languages=("en", "de")).experiment


@pytest.fixture
def german_page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def german(key: str) -> str:
    with translation.override("de"):
        return page_strings()[key]


def test_a_session_in_german_with_german_prompts(
    german_page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    page = german_page
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, 'p-de')}")
    page.wait_for_selector("#consent-button:visible")
    assert page.get_attribute("html", "lang") == "de"
    with translation.override("de"):
        agree = translation.gettext("I agree: start the test")
    assert agree != "I agree: start the test"
    assert page.text_content("#consent-button") == agree
    assert serious_violations(page, axe_source()) == []  # the language choice too

    page.click("#consent-button")
    page.wait_for_selector("#setup-volume:visible")
    assignment = Assignment.objects.get()
    assert assignment.language == "de"
    assert assignment.digits_clip is not None
    assert assignment.digits_clip.language == "de"
    page.click("#volume-play")
    page.wait_for_selector("#volume-done:enabled")
    page.click("#volume-done")
    page.click("#digits-play")
    page.wait_for_selector("#digits-input:enabled")
    page.fill("#digits-input", digits_of(assignment))
    page.click("#digits-submit")
    page.wait_for_selector("#stage-questions:visible")
    asked = page.text_content("#math-question") or ""
    assert asked != assignment.math_question and asked.strip()
    page.fill("#math-input", str(assignment.math_answer))
    page.check("input[name=hearing][value=yes]")
    page.check("input[name=headphones][value=yes]")
    page.click("#questions-submit")
    page.wait_for_selector(f"#clips-title:has-text('{german('practice')}')")
    assert page.text_content("#play-button") == german("play")
    traps = AssignmentItem.objects.filter(assignment=assignment, trap__isnull=False)
    assert traps.exists()
    assert set(traps.values_list("trap__language", flat=True)) == {"de"}


def test_the_rater_can_switch_to_another_offered_language(
    german_page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    page = german_page
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, 'p-en')}")
    page.wait_for_selector("#consent-button:visible")
    page.select_option("#language-choice", "en")
    page.click("#language-form button")
    page.wait_for_selector("#consent-button:has-text('I agree: start the test')")
    assert page.get_attribute("html", "lang") == "en"
    page.click("#consent-button")
    page.wait_for_selector("#setup-volume:visible")
    assert not page.is_visible("#language-form")  # the session keeps its language
    assert Assignment.objects.get().language == "en"
