"""A rater takes a whole session in Debian's Chromium: volume and digits, questions,
training, rating with a trap (answered as it asks), finish with the completion code;
and a rater whose digits are wrong is stopped with a clear message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route
from pytest_django.live_server_helper import LiveServer

from crowdtest.corpus.models import Experiment
from crowdtest.rating.identity import link_token
from crowdtest.rating.models import Assignment, AssignmentItem, Vote
from tests.crowdtest.rating.designs import browser_design

from .axe import axe_source, serious_violations
from .session import digits_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def experiment() -> Experiment:
    built = browser_design()
    return built.experiment


def open_test(page: Page, live_server: LiveServer, experiment: Experiment, who: str) -> None:
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, who)}")
    page.click("#consent-button")
    page.wait_for_selector("#setup-volume:visible")
    page.click("#volume-play")
    page.wait_for_selector("#volume-done:enabled")
    page.click("#volume-done")
    page.wait_for_selector("#setup-digits:visible")


def listen_to_digits(page: Page) -> None:
    page.click("#digits-play")
    page.wait_for_selector("#digits-input:enabled")


def test_a_rater_takes_a_whole_session(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    open_test(page, live_server, experiment, "p-browser")
    assignment = Assignment.objects.get()
    listen_to_digits(page)
    page.fill("#digits-input", digits_of(assignment))
    page.click("#digits-submit")

    page.wait_for_selector("#stage-questions:visible")
    assert page.text_content("#math-question") == assignment.math_question
    page.fill("#math-input", str(assignment.math_answer))
    page.check("input[name=hearing][value=yes]")
    page.check("input[name=headphones][value=yes]")
    page.click("#questions-submit")

    page.wait_for_selector("#clips-title:has-text('Practice round')")
    assert page.is_disabled(".score[data-score='3']")
    page.keyboard.press("Enter")  # plays the clip
    page.wait_for_selector(".score[data-score='3']:enabled")
    page.keyboard.press("3")

    page.wait_for_selector("#clips-title:has-text('Rate the recordings')")
    items = list(
        AssignmentItem.objects.filter(assignment=assignment, phase="rating").order_by("position")
    )
    assert len(items) == 3 and sum(i.trap_id is not None for i in items) == 1
    for number, item in enumerate(items, start=1):
        page.wait_for_selector(f"#clip-number:has-text('{number}')")
        page.click("#play-button")
        score = item.trap.answer if item.trap is not None else 4
        page.wait_for_selector(f".score[data-score='{score}']:enabled")
        page.click(f".score[data-score='{score}']")

    page.wait_for_selector("#stage-finished:visible")
    assignment.refresh_from_db()
    assert page.text_content("#completion-code") == assignment.completion_code
    # What the server did not offer stays hidden, and looks hidden (no stylesheet rule
    # for buttons overrides the attribute): no MTurk form or Prolific link for a link.
    assert not page.is_visible("#mturk-form") and not page.is_visible("#prolific-return")
    hidden_but_shown = page.eval_on_selector_all(
        "[hidden]", "els => els.filter(e => getComputedStyle(e).display !== 'none').map(e => e.id)"
    )
    assert hidden_but_shown == []
    # A direct link's rater came from no platform: nothing says to paste the code there.
    assert not page.is_visible("#code-where")
    page.click("#copy-code")
    page.wait_for_selector("#copy-status:not(:empty)")
    assert assignment.status == "completed"
    # The device's playback check went with the session.
    assert assignment.playback["ok"] is True and assignment.playback["can_play"] is True
    assert assignment.playback["sample_rate_hz"] >= 8000
    votes = Vote.objects.filter(assignment=assignment)
    assert votes.count() == 4
    trap_vote = votes.get(trap__isnull=False)
    assert trap_vote.trap is not None
    assert trap_vote.score == trap_vote.trap.answer
    assert all(v.listened_s >= 0.7 for v in votes)
    assert page.text_content("#progress-text") == "6 / 6"

    page.reload()  # the finished page comes back from the server's state
    page.wait_for_selector("#stage-finished:visible")
    assert page.text_content("#completion-code") == assignment.completion_code


@contextmanager
def phone_page(chromium: Browser, width: int, height: int) -> Iterator[Page]:
    """A touch screen of `width` x `height` CSS pixels, closed afterwards."""
    context = chromium.new_context(viewport={"width": width, "height": height}, has_touch=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_the_start_button_is_in_view_on_a_phone(
    chromium: Browser, live_server: LiveServer, experiment: Experiment
) -> None:
    with phone_page(chromium, 390, 844) as phone:
        url = f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, 'p-phone')}"
        phone.goto(url)
        phone.wait_for_selector("#stage-consent:visible")
        # Keys a phone has not: the keyboard sentence is left out, the rest is there.
        assert not phone.locator("#stage-consent .keyboard-only").is_visible()
        assert phone.get_by_text("Every answer is saved as you give it").is_visible()
        box = phone.locator("#consent-button").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844, box
        phone.tap("#consent-button")
        phone.wait_for_selector("#setup-volume:visible")


def test_a_clips_answers_come_into_view_on_a_small_phone_when_they_can_be_given(
    chromium: Browser, live_server: LiveServer, experiment: Experiment
) -> None:
    with phone_page(chromium, 360, 560) as phone:
        open_test(phone, live_server, experiment, "p-small-phone")
        listen_to_digits(phone)
        phone.fill("#digits-input", digits_of(Assignment.objects.get()))
        phone.click("#digits-submit")
        phone.wait_for_selector("#stage-questions:visible")
        assignment = Assignment.objects.get()
        phone.fill("#math-input", str(assignment.math_answer))
        phone.check("input[name=hearing][value=yes]")
        phone.check("input[name=headphones][value=yes]")
        phone.click("#questions-submit")
        phone.wait_for_selector("#clips-title:has-text('Practice round')")
        phone.tap("#play-button")
        phone.wait_for_selector(".score[data-score='1']:enabled")
        # The lowest answer, the last button, is on screen without scrolling by hand.
        phone.wait_for_function(
            "document.querySelector(\".score[data-score='1']\").getBoundingClientRect()"
            ".bottom <= window.innerHeight"
        )


def test_focus_follows_each_step_and_the_page_has_an_icon(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert icon.ok and "svg" in icon.headers["content-type"]
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, 'p-keys')}")
    page.wait_for_selector("#stage-consent:visible")
    assert page.locator("#stage-consent .keyboard-only").is_visible()  # a mouse and keys
    page.click("#consent-button")
    page.wait_for_selector("#setup-volume:visible")
    focused = "() => document.activeElement && document.activeElement.textContent"
    assert page.evaluate(focused) == "Set your volume"  # not the page body
    page.click("#volume-play")
    page.wait_for_selector("#volume-done:enabled")
    page.click("#volume-done")
    page.wait_for_selector("#setup-digits:visible")
    assert page.evaluate(focused) == "Check both ears"
    listen_to_digits(page)
    page.fill("#digits-input", "999")
    page.click("#digits-submit")
    page.wait_for_selector("#digits-message:has-text('tries left')")
    assert page.get_attribute("#digits-message", "role") == "alert"
    assert page.evaluate(focused) == "Check both ears"


def test_a_rater_with_wrong_digits_is_stopped(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    open_test(page, live_server, experiment, "p-one-ear")
    for tries_left in (2, 1):
        listen_to_digits(page)
        page.fill("#digits-input", "999")
        page.click("#digits-submit")
        page.wait_for_selector(f"#digits-message:has-text('{tries_left} tries left')")
    listen_to_digits(page)
    page.fill("#digits-input", "999")
    page.click("#digits-submit")
    page.wait_for_selector("#stage-message:visible")
    assert page.text_content("#message-title") == "The test stops here"
    assert "stereo headphones" in (page.text_content("#message-text") or "")
    assignment = Assignment.objects.get()
    assert assignment.status == "stopped" and assignment.digits_attempts == 3
    assert not Vote.objects.exists()


# The page preloads the next clip; forgetting it makes the next play fetch the audio.
FORGET_PRELOAD = (
    "() => { const p = document.getElementById('player'); p.removeAttribute('src'); p.load(); }"
)


def to_first_clip(page: Page, live_server: LiveServer, experiment: Experiment, who: str) -> None:
    open_test(page, live_server, experiment, who)
    assignment = Assignment.objects.get(rater__external_id=who)
    listen_to_digits(page)
    page.fill("#digits-input", digits_of(assignment))
    page.click("#digits-submit")
    page.wait_for_selector("#stage-questions:visible")
    page.fill("#math-input", str(assignment.math_answer))
    page.check("input[name=hearing][value=yes]")
    page.check("input[name=headphones][value=yes]")
    page.click("#questions-submit")
    page.wait_for_selector("#clips-title:has-text('Practice round')")


def test_a_slow_clip_says_it_is_loading_until_it_plays(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    to_first_clip(page, live_server, experiment, "p-slow-link")
    page.evaluate(FORGET_PRELOAD)

    def late(route: Route) -> None:
        time.sleep(3)
        route.continue_()

    page.route("**/take/clip/**", late)
    page.click("#play-button")
    assert page.text_content("#play-hint") == "Loading the recording…"
    assert page.is_disabled(".score[data-score='3']")
    page.wait_for_selector("#play-hint:has-text('Playing')", timeout=20_000)
    page.wait_for_selector("#play-position:has-text('left')")
    page.wait_for_selector(".score[data-score='3']:enabled", timeout=20_000)


def test_offline_playback_recovers_when_the_connection_returns(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    to_first_clip(page, live_server, experiment, "p-tunnel")
    page.route("**/take/clip/**", lambda route: route.abort("internetdisconnected"))
    page.evaluate(FORGET_PRELOAD)
    page.context.set_offline(True)
    page.click("#play-button")
    page.wait_for_selector("#problem:visible")
    assert "connection is lost" in (page.text_content("#problem") or "")

    page.unroute("**/take/clip/**")
    page.context.set_offline(False)
    page.wait_for_selector("#problem", state="hidden")
    page.wait_for_selector("#play-button:enabled")
    page.click("#play-button")
    page.wait_for_selector(".score[data-score='3']:enabled", timeout=20_000)
    page.keyboard.press("3")
    page.wait_for_selector("#clip-number:has-text('2'), #clips-title:has-text('Rate')")


def test_every_stage_passes_the_accessibility_check(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    source = axe_source()
    found: dict[str, list[str]] = {}
    who = "p-axe"
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, who)}")
    page.wait_for_selector("#stage-consent:visible")
    found["consent"] = serious_violations(page, source)
    page.click("#consent-button")
    page.wait_for_selector("#setup-volume:visible")
    found["volume"] = serious_violations(page, source)
    page.click("#volume-play")
    page.wait_for_selector("#volume-done:enabled")
    page.click("#volume-done")
    page.wait_for_selector("#setup-digits:visible")
    found["digits"] = serious_violations(page, source)
    assignment = Assignment.objects.get(rater__external_id=who)
    listen_to_digits(page)
    page.fill("#digits-input", digits_of(assignment))
    page.click("#digits-submit")
    page.wait_for_selector("#stage-questions:visible")
    found["questions"] = serious_violations(page, source)
    page.fill("#math-input", str(assignment.math_answer))
    page.check("input[name=hearing][value=yes]")
    page.check("input[name=headphones][value=yes]")
    page.click("#questions-submit")
    page.wait_for_selector("#clips-title:has-text('Practice round')")
    found["clips"] = serious_violations(page, source)
    page.click("#play-button")
    page.wait_for_selector(".score[data-score='3']:enabled")
    found["rating"] = serious_violations(page, source)
    assert {stage: v for stage, v in found.items() if v} == {}


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until `selector` has the focus, as a keyboard user would."""
    for _ in range(40):
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} can't be reached with Tab")


def test_a_whole_session_by_keyboard_alone(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    who = "p-keyboard"
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, who)}")
    page.wait_for_selector("#stage-consent:visible")
    tab_to(page, "#consent-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#setup-volume:visible")
    tab_to(page, "#volume-play")
    page.keyboard.press("Enter")
    page.wait_for_selector("#volume-done:enabled")
    tab_to(page, "#volume-done")
    page.keyboard.press("Enter")
    page.wait_for_selector("#setup-digits:visible")
    assignment = Assignment.objects.get(rater__external_id=who)
    tab_to(page, "#digits-play")
    page.keyboard.press("Enter")
    page.wait_for_selector("#digits-input:enabled")
    tab_to(page, "#digits-input")
    page.keyboard.type(digits_of(assignment))
    tab_to(page, "#digits-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-questions:visible")
    tab_to(page, "#math-input")
    page.keyboard.type(str(assignment.math_answer))
    tab_to(page, "input[name=hearing]")
    page.keyboard.press("Space")
    tab_to(page, "input[name=headphones]")
    page.keyboard.press("Space")
    tab_to(page, "#questions-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-clips:visible")
    rated = 0
    while True:
        page.wait_for_selector("#play-button:enabled, #stage-finished:visible")
        if page.is_visible("#stage-finished"):
            break
        tab_to(page, "#play-button")
        page.keyboard.press("Enter")
        page.wait_for_selector(".score:enabled", timeout=20_000)
        key = urlsplit(page.evaluate("() => document.getElementById('player').src")).path
        item = AssignmentItem.objects.select_related("trap").get(clip_key=key.rsplit("/", 1)[1])
        page.keyboard.press(str(item.trap.answer if item.trap else 4))
        rated += 1
        page.wait_for_selector(".score:disabled")
    assignment.refresh_from_db()
    assert assignment.status == "completed"
    assert Vote.objects.filter(assignment=assignment).count() == rated


def test_the_time_the_page_was_hidden_during_a_clip_is_recorded(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    to_first_clip(page, live_server, experiment, "p-other-tab")
    page.click("#play-button")
    page.wait_for_selector("#play-hint:has-text('Playing')")
    visibility = (
        "h => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => h});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    page.evaluate(visibility, True)  # another tab for about half a second
    page.wait_for_timeout(500)
    page.evaluate(visibility, False)
    page.wait_for_selector(".score[data-score='3']:enabled", timeout=20_000)
    page.keyboard.press("3")
    page.wait_for_function("() => document.querySelector('.score').disabled")
    for _ in range(50):
        vote = Vote.objects.filter(assignment__rater__external_id="p-other-tab").first()
        if vote is not None:
            break
        time.sleep(0.1)
    assert vote is not None and vote.hidden_s is not None
    assert 0.4 <= vote.hidden_s <= vote.listened_s


def test_a_device_that_cannot_decode_the_audio_is_told_and_uses_no_session(
    page: Page, live_server: LiveServer, experiment: Experiment
) -> None:
    def undecodable(route: Route) -> None:  # bytes no decoder takes, as audio/mp4
        route.fulfill(status=200, content_type="audio/mp4", body=b"\x00\x01garbage" * 512)

    page.route("**/take/clip/**", undecodable)
    who = "p-no-codec"
    page.goto(f"{live_server.url}/take/{experiment.slug}/?t={link_token(experiment.pk, who)}")
    page.click("#consent-button")
    page.wait_for_selector("#stage-message:visible")
    assert page.text_content("#message-title") == "This browser can't play the test's audio"
    assert "another browser" in (page.text_content("#message-text") or "")
    assignment = Assignment.objects.get(rater__external_id=who)
    assert assignment.status == Assignment.Status.NO_PLAYBACK
    assert assignment.playback["can_play"] is False
    assert "could not be decoded" in assignment.playback["detail"]
    assert assignment.session.status == "open"  # back in the pool
