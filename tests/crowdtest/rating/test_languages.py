"""A test in several languages: the entry page and its script's words, the API's messages,
the session's prompts (digits and traps) and the exports all follow the rater's language."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.test import Client

from crowdtest.corpus.config import ExperimentSettings, SettingsError
from crowdtest.exports import export_one
from crowdtest.rating.identity import link_token
from crowdtest.rating.models import AssignmentItem
from tests.crowdtest.rating.designs import (
    Built,
    RaterClient,
    assignment_of,
    make_design,
    take_session,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def built() -> Built:
    return make_design(languages=("en", "de"))


def page(client: Client, built: Built, accept_language: str, query: str = "") -> Any:
    token = link_token(built.experiment.pk, "p-1")
    response = client.get(
        f"/take/{built.experiment.slug}/?t={token}{query}",
        headers={"Accept-Language": accept_language},
    )
    assert response.status_code == 200
    return response


def page_strings(response: Any) -> dict[str, str]:
    found = re.search(
        rb'<script id="page-strings" type="application/json">(.*?)</script>', response.content, re.S
    )
    assert found
    return dict(json.loads(found.group(1)))


def test_the_browser_language_is_the_default_among_those_offered(
    client: Client, built: Built
) -> None:
    german = page(client, built, "de-DE,de;q=0.9,en;q=0.5")
    html = german.content.decode()
    assert '<html lang="de">' in html
    assert 'data-language="de"' in html
    assert "Hörtest zur Audioqualität" in html or "Audioqualität" in html
    assert page_strings(german)["play"] != "▶ Play"
    assert german["Content-Language"] == "de"
    # A language the test does not offer falls back to its first.
    french = page(client, built, "fr-FR,fr;q=0.9")
    assert '<html lang="en">' in french.content.decode()
    assert page_strings(french)["play"] == "▶ Play"


def test_the_rater_can_choose_another_offered_language(client: Client, built: Built) -> None:
    chosen = page(client, built, "de", query="&lang=en")
    html = chosen.content.decode()
    assert '<html lang="en">' in html
    # The choice keeps the entry URL's parameters (the token) and lists what is offered.
    assert re.search(r'<input type="hidden" name="t" value="[^"]+">', html)
    assert '<option value="de" lang="de">Deutsch</option>' in html
    assert '<option value="en" lang="en" selected>English</option>' in html
    assert '<option value="fr"' not in html


def test_a_single_language_test_offers_no_choice(client: Client) -> None:
    built = make_design()
    response = page(client, built, "de")
    assert 'id="language-form"' not in response.content.decode()
    assert '<html lang="en">' in response.content.decode()


def test_a_german_session_hears_german_digits_and_traps(client: Client, built: Built) -> None:
    rc = RaterClient(client, built.experiment, language="de")
    state = rc.post("consent").json()
    assignment = assignment_of(rc)
    assert assignment.language == "de"
    assert assignment.digits_clip is not None
    assert assignment.digits_clip.language == "de"
    # The API speaks German too: a wrong answer's message, and the math question.
    wrong = rc.post("setup", {"clip": state["setup"]["clip"], "digits": "0"}).json()
    assert wrong["stage"] == "setup"
    next_clip = assignment_of(rc).digits_clip
    assert next_clip is not None and next_clip.language == "de"  # the next clip as well
    refused = rc.post("rate", {"clip": "nope", "score": 3})
    assert refused.status_code in (404, 409)
    assert refused["Content-Language"] == "de"
    take_session(rc)
    items = AssignmentItem.objects.filter(assignment=assignment, trap__isnull=False)
    listed = {
        (i.trap.source_id, i.trap.answer)
        for i in assignment.session.items.filter(trap__isnull=False).select_related("trap")
        if i.trap is not None
    }
    assert items.exists()
    traps = [i.trap for i in items.select_related("trap") if i.trap is not None]
    assert {t.language for t in traps} == {"de"}
    assert {(t.source_id, t.answer) for t in traps} == listed
    # Sessions list the test's first language; an English rater hears those.
    english = RaterClient(client, built.experiment, "participant-2", language="en")
    english.post("consent")
    other = assignment_of(english)
    assert other.language == "en"
    spoken = other.items.filter(trap__isnull=False).select_related("trap")
    assert {i.trap.language for i in spoken if i.trap is not None} == {"en"}


def test_a_language_not_offered_gets_the_first(client: Client, built: Built) -> None:
    rc = RaterClient(client, built.experiment, language="es")
    rc.post("consent")
    assert assignment_of(rc).language == "en"


def test_the_api_answers_in_the_pages_language(client: Client, built: Built) -> None:
    rc = RaterClient(client, built.experiment, language="de")
    response = rc.post("questions", {"math": 1, "hearing_normal": True, "headphones": True})
    assert response.status_code == 409
    english = RaterClient(client, built.experiment, "participant-2")
    other = english.post("questions", {"math": 1, "hearing_normal": True, "headphones": True})
    assert other.json()["error"] == "No session has started yet; agree to take part first."
    assert response.json()["error"] != other.json()["error"]
    assert response.json()["code"] == other.json()["code"] == "stage"


def test_the_math_question_is_asked_in_the_raters_language(client: Client, built: Built) -> None:
    rc = RaterClient(client, built.experiment, language="de")
    state = rc.post("consent").json()
    assignment = assignment_of(rc)
    assert assignment.digits_clip is not None
    digits = assignment.digits_clip.digits
    state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits}).json()
    asked = state["questions"]["math"]
    assert asked != assignment.math_question  # stored as asked in English, for exports
    numbers = re.findall(r"\d+", assignment.math_question)
    assert re.findall(r"\d+", asked) == numbers


def test_verdicts_record_each_sessions_language(client: Client, built: Built) -> None:
    take_session(RaterClient(client, built.experiment, language="de"))
    take_session(RaterClient(client, built.experiment, "participant-2"))
    table = list(csv.DictReader(io.StringIO(export_one(built.experiment, "verdicts.csv"))))
    assert sorted(row["language"] for row in table) == ["de", "en"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("en", True),
        ("de,en", True),
        ("en,de,fr,es", True),
        ("xx", False),
        ("en,en", False),
        ("", False),
    ],
)
def test_the_languages_setting_takes_known_distinct_codes(value: str, ok: bool) -> None:
    if ok:
        assert ExperimentSettings(languages=value).language_codes[0] == value.split(",")[0]
    else:
        with pytest.raises(SettingsError, match="languages"):
            ExperimentSettings(languages=value)
