"""A rater's session in the browser, from the digits to the finish screen, as an honest
rater answers it (the digits and math looked up server-side, traps given the answer they
ask for); for the browser tests that need a whole session on the way to what they check."""

from __future__ import annotations

from playwright.sync_api import Page

from crowdtest.rating.models import Assignment, AssignmentItem


def answer_to_the_end(page: Page, assignment: Assignment, score: int = 4) -> None:
    """On the digits step: the digits, the questions, one practice clip, every rating clip
    (`score`, or a trap's own answer), until the finish screen shows."""
    answer_setup(page, assignment)
    page.wait_for_selector("#clips-title:has-text('Practice round')")
    page.click("#play-button")
    page.wait_for_selector(".score[data-score='3']:enabled")
    page.click(".score[data-score='3']")
    page.wait_for_selector("#clips-title:has-text('Rate the recordings')")
    items = AssignmentItem.objects.filter(assignment=assignment, phase="rating")
    for number, item in enumerate(items.order_by("position"), start=1):
        page.wait_for_selector(f"#clip-number:has-text('{number}')")
        page.click("#play-button")
        answer = item.trap.answer if item.trap is not None else score
        page.wait_for_selector(f".score[data-score='{answer}']:enabled")
        page.click(f".score[data-score='{answer}']")
    page.wait_for_selector("#stage-finished:visible")


def digits_of(assignment: Assignment) -> str:
    """The digits of the assignment's digits clip (a started assignment has one)."""
    assert assignment.digits_clip is not None
    return assignment.digits_clip.digits


def answer_setup(page: Page, assignment: Assignment) -> None:
    """On the digits step: the digits, then the questions, answered as an honest rater."""
    page.click("#digits-play")
    page.wait_for_selector("#digits-input:enabled")
    page.fill("#digits-input", digits_of(assignment))
    page.click("#digits-submit")
    page.wait_for_selector("#stage-questions:visible")
    page.fill("#math-input", str(assignment.math_answer))
    page.check("input[name=hearing][value=yes]")
    page.check("input[name=headphones][value=yes]")
    page.click("#questions-submit")
