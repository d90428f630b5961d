"""A rater takes a CCR session in Debian's Chromium: the page shows P.808 Annex E's
scale, the keys count from the bottom of it (7 is +3), a trap is answered as it asks and a
gold pair as its ruined copy makes plain, and the votes are saved as given with the order
kept on the server."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from crowdtest.rating.identity import link_token
from crowdtest.rating.models import Assignment, AssignmentItem, Vote
from tests.crowdtest.rating.comparison_designs import comparison_experiment, design_comparison
from tests.crowdtest.rating.designs import real_clip

from .session import answer_setup

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rater_takes_a_ccr_session(page: Page, live_server: LiveServer) -> None:
    built = comparison_experiment(
        "ccr",
        qualities=(4.0, 3.0),
        votes=2,
        per_session=2,
        settings={"training_size": 1},
        duration_s=1.0,
        audio=real_clip(1.0),
    )
    design_comparison(built)
    experiment = built.experiment
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, 'p-1')}")
    assert "Much better" in (page.text_content("#stage-consent") or "")
    page.click("#consent-button")
    page.wait_for_selector("#setup-volume:visible")
    page.click("#volume-play")
    page.wait_for_selector("#volume-done:enabled")
    page.click("#volume-done")
    assignment = Assignment.objects.get()
    answer_setup(page, assignment)

    page.wait_for_selector("#clips-title:has-text('Practice round')")
    assert "the second compared to the first" in (page.text_content("#clips-intro") or "")
    page.click("#play-button")
    page.wait_for_selector(".score[data-score='0']:enabled")
    page.click(".score[data-score='0']")

    page.wait_for_selector("#clips-title:has-text('Rate the recordings')")
    items = list(
        AssignmentItem.objects.filter(assignment=assignment, phase="rating").order_by("position")
    )
    # One trap and two gold pairs (the trap source's music beside its ruined copy).
    assert sum(i.trap_id is not None for i in items) == 1
    assert sum(i.gold_id is not None for i in items) == 2
    for number, item in enumerate(items, start=1):
        page.wait_for_selector(f"#clip-number:has-text('{number}')")
        page.click("#play-button")
        check = item.trap or item.gold
        if check is not None:
            answer = check.answer
            page.wait_for_selector(f".score[data-score='{answer}']:enabled")
            page.click(f".score[data-score='{answer}']")
        else:
            page.wait_for_selector(".score[data-score='3']:enabled")
            page.keyboard.press("7")  # the top of the scale: +3 much better

    page.wait_for_selector("#stage-finished:visible")
    votes = Vote.objects.filter(assignment=assignment, phase="rating")
    # One pair, played twice in all (once in each order): one judgement per session.
    pair_votes = [v for v in votes if v.comparison_id]
    assert [v.score for v in pair_votes] == [3]
    comparison = pair_votes[0].comparison
    assert comparison is not None
    assert comparison.reference_first in (True, False)
