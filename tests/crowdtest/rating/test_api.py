"""The rater API: every bad input gets a clear 4xx, answers are idempotent, the clock is
the server's, and a reload resumes where the rater was."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from crowdtest.design.models import Session
from crowdtest.rating.models import Assignment, AssignmentItem, Rater, Vote
from tests.crowdtest.rating.designs import (
    Built,
    RaterClient,
    assignment_of,
    digits_of,
    make_design,
    take_session,
    to_rating,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def built() -> Built:
    return make_design()


@pytest.fixture
def rc(client: Client, built: Built) -> RaterClient:
    return RaterClient(client, built.experiment)


def error_of(response: Any) -> tuple[int, str]:
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "code"} and body["error"]
    return response.status_code, body["code"]


def test_a_whole_session_ends_with_the_completion_code(rc: RaterClient) -> None:
    state = take_session(rc)
    assignment = assignment_of(rc)
    assert state["stage"] == "finished"
    assert state["finish"]["code"] == assignment.completion_code
    assert assignment.status == Assignment.Status.COMPLETED and assignment.ordinal == 1
    assert assignment.session.status == Session.Status.DONE
    assert Vote.objects.filter(assignment=assignment).count() == assignment.items.count()


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 403), ({"X-Rater-Token": "forged:token"}, 403)],
)
def test_a_missing_or_forged_token_is_refused(
    client: Client, built: Built, headers: dict[str, str], status: int
) -> None:
    for path in ("state", "consent", "rate"):
        method = client.get if path == "state" else client.post
        response = method(f"/api/{path}", headers=headers)
        assert error_of(response) == (status, "bad_token")


def test_an_altered_token_is_refused(client: Client, rc: RaterClient) -> None:
    payload, _, signature = rc.token.rpartition(":")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + ":" + signature
    assert error_of(client.get("/api/state", HTTP_X_RATER_TOKEN=tampered)) == (403, "bad_token")


def test_another_raters_clip_is_unknown(client: Client, built: Built, rc: RaterClient) -> None:
    mine = to_rating(rc)["clips"][0]["clip"]
    other = RaterClient(client, built.experiment, external_id="someone-else")
    to_rating(other)
    assert error_of(other.post("play", {"clip": mine})) == (404, "unknown_clip")
    assert error_of(other.post("rate", {"clip": mine, "score": 3})) == (404, "unknown_clip")
    assert not Vote.objects.filter(item__clip_key=mine).exists()


@pytest.mark.parametrize("score", [0, 6, -1, 3.5, "3", True, None])
def test_a_score_outside_1_to_5_is_refused(rc: RaterClient, score: Any) -> None:
    clip = to_rating(rc)["clips"][0]["clip"]
    rc.post("play", {"clip": clip})
    assert error_of(rc.post("rate", {"clip": clip, "score": score})) == (400, "invalid")
    assert not Vote.objects.filter(item__clip_key=clip).exists()


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{not json", "bad_json"), (b"[1, 2]", "bad_json"), (b"\xff\xfe", "bad_json")],
)
def test_malformed_json_is_refused(rc: RaterClient, raw: bytes, code: str) -> None:
    rc.post("consent")
    assert error_of(rc.post("rate", raw=raw)) == (400, code)


def test_a_huge_body_is_refused_without_losing_anything(rc: RaterClient) -> None:
    clip = to_rating(rc)["clips"][0]["clip"]
    rc.post("play", {"clip": clip})
    huge = {"clip": clip, "score": 4, "padding": "x" * 5000}
    assert error_of(rc.post("rate", huge)) == (413, "too_large")
    assert rc.post("rate", {"clip": clip, "score": 4}).status_code == 200


def test_an_unknown_endpoint_or_method_answers_json(client: Client, rc: RaterClient) -> None:
    assert error_of(client.get("/api/nothing-here")) == (404, "not_found")
    assert error_of(rc.get("rate")) == (405, "method_not_allowed")
    assert error_of(rc.post("state")) == (405, "method_not_allowed")


def test_rating_before_the_clip_ended_is_refused(client: Client) -> None:
    built = make_design(duration_s=10.0)
    rc = RaterClient(client, built.experiment)
    clip = to_rating_long(rc)
    assert error_of(rc.post("rate", {"clip": clip, "score": 4})) == (409, "not_played")
    rc.post("play", {"clip": clip})
    response = rc.post("rate", {"clip": clip, "score": 4})
    assert error_of(response) == (409, "too_early")
    assert 9 < response.json()["retry_after_s"] <= 9.7
    assert response["Retry-After"]
    AssignmentItem.objects.filter(clip_key=clip).update(
        play_started_at=timezone.now() - timedelta(seconds=9.75)
    )
    assert rc.post("rate", {"clip": clip, "score": 4}).status_code == 200  # 0.3 s tolerance
    vote = Vote.objects.get(item__clip_key=clip)
    assert 9.7 <= vote.listened_s < 11


def to_rating_long(rc: RaterClient) -> str:
    """With 10 s clips: straight to rating (training already done), first clip's key."""
    rater = Rater.objects.create(
        experiment_id=rc.identity.experiment_id,
        platform="link",
        external_id=rc.identity.external_id,
        setup_passed_at=timezone.now(),
        training_done_at=timezone.now(),
    )
    state = rc.post("consent").json()
    assert state["stage"] == "questions" and rater.assignments.count() == 1
    body = {"math": assignment_of(rc).math_answer, "hearing_normal": True, "headphones": True}
    state = rc.post("questions", body).json()
    assert state["stage"] == "rating"
    return str(state["clips"][0]["clip"])


def test_rating_twice_is_harmless_and_a_different_score_is_refused(rc: RaterClient) -> None:
    clip = to_rating(rc)["clips"][0]["clip"]
    rc.post("play", {"clip": clip})
    first = rc.post("rate", {"clip": clip, "score": 2})
    again = rc.post("rate", {"clip": clip, "score": 2})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert error_of(rc.post("rate", {"clip": clip, "score": 5})) == (409, "already_rated")
    assert Vote.objects.get(item__clip_key=clip).score == 2
    assert rc.post("play", {"clip": clip}).status_code == 200  # a late resent play: no change


def test_clips_play_and_rate_in_order(rc: RaterClient) -> None:
    clips = to_rating(rc)["clips"]
    assert error_of(rc.post("play", {"clip": clips[1]["clip"]})) == (409, "stage")
    assert error_of(rc.post("rate", {"clip": clips[1]["clip"], "score": 3})) == (409, "stage")


def test_answers_out_of_order_are_refused(rc: RaterClient) -> None:
    assert error_of(rc.post("setup", {"clip": "x", "digits": "12"})) == (409, "stage")
    assert error_of(rc.post("finish")) == (409, "stage")
    state = rc.post("consent").json()
    assert state["stage"] == "setup"
    body = {"math": 3, "hearing_normal": True, "headphones": True}
    assert error_of(rc.post("questions", body)) == (409, "stage")
    clip = assignment_of(rc).items.filter(phase="rating").first()
    assert clip is not None
    assert error_of(rc.post("play", {"clip": clip.clip_key})) == (409, "stage")
    assert error_of(rc.post("rate", {"clip": clip.clip_key, "score": 3})) == (409, "stage")
    assert error_of(rc.post("finish")) == (409, "stage")
    assert not Vote.objects.exists()


def test_questions_are_saved_once(rc: RaterClient) -> None:
    to_rating(rc)
    assignment = assignment_of(rc)
    same = {"math": assignment.math_given, "hearing_normal": True, "headphones": True}
    assert rc.post("questions", same).status_code == 200
    other = {**same, "headphones": False}
    assert error_of(rc.post("questions", other)) == (409, "answered")
    assignment.refresh_from_db()
    assert assignment.headphones is True


@pytest.mark.parametrize(
    "body",
    [
        {"math": "twelve", "hearing_normal": True, "headphones": True},
        {"math": 3, "hearing_normal": "yes", "headphones": True},
        {"math": 3, "hearing_normal": True},
    ],
)
def test_malformed_questions_are_refused(rc: RaterClient, body: dict[str, Any]) -> None:
    state = rc.post("consent").json()
    digits = digits_of(rc)
    rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits})
    assert error_of(rc.post("questions", body)) == (400, "invalid")


def test_wrong_digits_get_new_digits_then_stop_the_test(rc: RaterClient) -> None:
    state = rc.post("consent").json()
    first_clip = state["setup"]["clip"]
    state = rc.post("setup", {"clip": first_clip, "digits": "999"}).json()
    assert state["stage"] == "setup" and state["setup"]["retry"] is True
    assert state["setup"]["tries_left"] == 2 and state["setup"]["clip"] != first_clip
    # The same wrong answer resent (a network retry) does not use up a try.
    assert (
        rc.post("setup", {"clip": first_clip, "digits": "999"}).json()["setup"]["tries_left"] == 2
    )
    state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": "998"}).json()
    state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": "997"}).json()
    assert state["stage"] == "stopped" and "headphones" in state["message"]
    assignment = assignment_of(rc)
    assert assignment.status == Assignment.Status.STOPPED
    assert [t["given"] for t in assignment.digits_tries] == ["999", "998", "997"]
    assert assignment.digits_correct is False and assignment.digits_attempts == 3
    assert assignment.session.status == Session.Status.OPEN  # back to the pool
    assert error_of(rc.post("consent")) == (409, "stopped")
    assert rc.state()["stage"] == "stopped"


def test_a_reload_resumes_where_the_rater_was(client: Client, rc: RaterClient) -> None:
    clips = to_rating(rc)["clips"]
    rc.post("play", {"clip": clips[0]["clip"]})
    rc.post("rate", {"clip": clips[0]["clip"], "score": 5})
    again = RaterClient(client, rc.experiment, external_id=rc.identity.external_id)
    state = again.state()
    assert state["stage"] == "rating"
    assert [c["rated"] for c in state["clips"]][:2] == [True, False]
    assert [c["clip"] for c in state["clips"]] == [c["clip"] for c in clips]
    assert again.post("consent").json()["clips"] == state["clips"]  # consent again: same session
    assert Assignment.objects.count() == 1


def test_mturk_preview_shows_the_instructions_and_starts_nothing(
    client: Client, built: Built
) -> None:
    url = f"/take/{built.experiment.slug}/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1"
    response = client.get(url)
    assert response.status_code == 200
    assert b"Accept the task to start" in response.content
    assert b"data-token" not in response.content
    assert not Rater.objects.exists() and not Assignment.objects.exists()


def test_a_rater_over_the_session_cap_can_not_start(client: Client) -> None:
    built = make_design(settings={"max_sessions_per_rater": 1})
    rc = RaterClient(client, built.experiment)
    assert take_session(rc)["finish"]["another"] is False
    assert error_of(rc.post("consent")) == (403, "over_cap")
    assert rc.state()["finish"]["another"] is False
    fresh = RaterClient(rc.client, built.experiment, external_id=rc.identity.external_id)
    Assignment.objects.update(platform_assignment_id="old")
    assert fresh.post("consent").json()["error"].startswith("You have taken the most sessions")
    assert Assignment.objects.count() == 1


def test_a_blocked_rater_can_not_start(client: Client, built: Built) -> None:
    Rater.objects.create(
        experiment=built.experiment, platform="link", external_id="bad", blocked=True
    )
    rc = RaterClient(client, built.experiment, external_id="bad")
    assert rc.state()["stage"] == "closed"
    assert error_of(rc.post("consent")) == (403, "blocked")


def test_an_mturk_assignment_finishes_with_the_external_submit_form(
    client: Client, built: Built
) -> None:
    rc = RaterClient(
        client,
        built.experiment,
        external_id="A1WORKER",
        platform="mturk",
        assignment_id="3ASSIGN",
        batch_id="3HIT",
        return_url="https://workersandbox.mturk.com",
    )
    finish = take_session(rc)["finish"]
    assert finish["submit"]["action"] == "https://workersandbox.mturk.com/mturk/externalSubmit"
    assert finish["submit"]["fields"]["assignmentId"] == "3ASSIGN"
    assert error_of(rc.post("consent")) == (409, "finished")


def test_a_prolific_session_finishes_with_the_completion_redirect(
    client: Client, built: Built
) -> None:
    rc = RaterClient(
        client,
        built.experiment,
        external_id="5f0c",
        platform="prolific",
        assignment_id="SESSION1",
        batch_id="STUDY1",
    )
    finish = take_session(rc)["finish"]
    assert finish["redirect"] == (
        f"https://app.prolific.com/submissions/complete?cc={finish['code']}"
    )


def test_an_abandoned_session_is_given_to_the_next_rater(client: Client) -> None:
    built = make_design(size=2, votes=1)  # a single rating session
    gone = RaterClient(client, built.experiment, external_id="gone")
    clip = to_rating(gone)["clips"][0]["clip"]
    gone.post("play", {"clip": clip})
    assert gone.post("rate", {"clip": clip, "score": 2}).status_code == 200
    kept = Vote.objects.filter(rater__external_id="gone").count()
    later = RaterClient(client, built.experiment, external_id="later")
    assert later.state()["stage"] == "closed"  # nothing free while "gone" holds it
    Assignment.objects.update(last_seen_at=timezone.now() - timedelta(minutes=91))
    assert later.post("consent").json()["stage"] == "setup"
    assert assignment_of(later).session_id == assignment_of(gone).session_id
    state = gone.state()
    assert state["stage"] == "closed" and "timed out after 90 minutes" in state["message"]
    second = assignment_of(gone).items.filter(phase="rating", position=1).get()
    assert error_of(gone.post("play", {"clip": second.clip_key})) == (409, "expired")
    assert Vote.objects.filter(rater__external_id="gone").count() == kept


def test_plays_and_ratings_keep_a_session_alive_writing_last_seen_only_when_behind(
    rc: RaterClient,
) -> None:
    """A session is abandoned after minutes of silence; a play or a rating moves its
    last-seen time when that is half a minute behind or more, and leaves it otherwise (a
    write fewer for most clips)."""
    first, second = to_rating(rc)["clips"][:2]
    long_ago, moments_ago = (timezone.now() - timedelta(seconds=s) for s in (300, 10))
    Assignment.objects.update(last_seen_at=long_ago)
    assert rc.post("play", {"clip": first["clip"]}).status_code == 200
    assert assignment_of(rc).last_seen_at > long_ago + timedelta(seconds=290)
    Assignment.objects.update(last_seen_at=moments_ago)
    assert rc.post("rate", {"clip": first["clip"], "score": 3}).status_code == 200
    assert rc.post("play", {"clip": second["clip"]}).status_code == 200
    assert assignment_of(rc).last_seen_at == moments_ago
    Assignment.objects.update(last_seen_at=long_ago)
    assert rc.post("rate", {"clip": second["clip"], "score": 3}).status_code == 200
    assert assignment_of(rc).last_seen_at > long_ago + timedelta(seconds=290)


@pytest.mark.parametrize(
    "body",
    [
        {"math": "²", "hearing_normal": True, "headphones": True},
        {"math": "12", "hearing_normal": True, "headphones": True},
        {"math": 876134, "hearing_normal": True, "headphones": True},
    ],
)
def test_a_math_answer_that_is_not_a_bounded_whole_number_is_refused(
    rc: RaterClient, body: dict[str, Any]
) -> None:
    state = rc.post("consent").json()
    digits = digits_of(rc)
    rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits})
    assert error_of(rc.post("questions", body)) == (400, "invalid")


@pytest.mark.parametrize("path", ["play", "rate"])
def test_a_nul_in_a_clip_key_is_refused(rc: RaterClient, path: str) -> None:
    to_rating(rc)
    body = {"clip": "a\u0000b", "score": 3}
    assert error_of(rc.post(path, body, fetch=False)) == (400, "invalid")


def test_a_nul_in_the_digits_is_refused(rc: RaterClient) -> None:
    state = rc.post("consent").json()
    body = {"clip": state["setup"]["clip"], "digits": "1\u0000"}
    assert error_of(rc.post("setup", body)) == (400, "invalid")
    assert assignment_of(rc).digits_attempts == 0


def test_a_deeply_nested_body_is_refused(rc: RaterClient) -> None:
    rc.post("consent")
    raw = b"[" * 2000 + b"]" * 2000 + b"x"  # 4,001 bytes
    assert error_of(rc.post("rate", raw=raw)) == (400, "bad_json")


def test_a_whole_number_score_written_as_1_0_is_accepted(rc: RaterClient) -> None:
    clip = to_rating(rc)["clips"][0]["clip"]
    rc.post("play", {"clip": clip})
    assert rc.post("rate", {"clip": clip, "score": 1.0}).json()["score"] == 1
    assert Vote.objects.get(item__clip_key=clip).score == 1


def test_a_wrong_method_names_the_allowed_one(rc: RaterClient) -> None:
    response = rc.get("rate")
    assert error_of(response) == (405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert rc.post("state")["Allow"] == "GET"


def test_the_page_says_how_long_it_was_hidden_while_a_clip_played(client: Client) -> None:
    built = make_design(duration_s=10.0)
    rc = RaterClient(client, built.experiment)
    clip = to_rating_long(rc)
    rc.post("play", {"clip": clip})
    AssignmentItem.objects.filter(clip_key=clip).update(
        play_started_at=timezone.now() - timedelta(seconds=10)
    )
    for bad in (-1, "2", True, 1e9):
        response = rc.post("rate", {"clip": clip, "score": 4, "hidden_s": bad})
        assert error_of(response) == (400, "invalid"), bad
    assert rc.post("rate", {"clip": clip, "score": 4, "hidden_s": 3.25}).status_code == 200
    assert Vote.objects.get(item__clip_key=clip).hidden_s == 3.25


def test_progress_counts_the_setup_the_questions_and_every_rated_clip(rc: RaterClient) -> None:
    state = to_rating(rc)
    assignment = assignment_of(rc)
    setup = 1 if assignment.needs_setup else 0
    rated = Vote.objects.filter(assignment=assignment).count()
    total = assignment.items.count() + 1 + setup
    assert state["progress"] == {"done": rated + 1 + setup, "total": total}
    clip = state["clips"][0]["clip"]
    rc.post("play", {"clip": clip})
    assert rc.post("rate", {"clip": clip, "score": 3}).status_code == 200
    assert rc.state()["progress"] == {"done": rated + 2 + setup, "total": total}
