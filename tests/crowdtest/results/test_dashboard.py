"""The experimenter's dashboard: what it shows, who sees it, its plots, its live endpoint,
and query counts that do not grow with the votes."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks

from crowdtest.corpus.models import Experiment
from crowdtest.rating.models import Vote
from crowdtest.results import selectors
from crowdtest.results.dashboard import overview, progress_series
from crowdtest.results.models import SessionVerdict, VerdictOverride
from crowdtest.results.services import experiment_screen, results_refresh
from tests.factories import RaterFactory, SessionFactory

from .builders import bulk_stimuli, bulk_votes, make_stimuli, set_config, take_session

PNG = b"\x89PNG\r\n\x1a\n"


def _url(name: str, *args: Any) -> str:
    return reverse(f"results:{name}", args=["vinyl", *args])


def test_staff_only(client: Client, experiment: Experiment, django_user_model: type[User]) -> None:
    for name in ("dashboard", "live", "plot_mos", "plot_progress", "mos_list", "session_list"):
        response = client.get(_url(name))
        assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(django_user_model.objects.create_user(username="someone"))
    assert client.get(_url("dashboard")).status_code == 403


def test_cost_counts_sessions_and_bonuses_as_the_settings_say(experiment: Experiment) -> None:
    set_config(experiment, reward_usd="0.50", bonus_usd="0.10", bonus_after_sessions=2)
    stimuli = make_stimuli(experiment, 2)
    busy, casual = RaterFactory(experiment=experiment), RaterFactory(experiment=experiment)
    for _ in range(3):  # more than 2 sessions: one bonus
        take_session(rater=busy, stimuli=stimuli, scores=[2, 4])
    take_session(rater=casual, stimuli=stimuli, scores=[2, 4])
    take_session(rater=casual, stimuli=stimuli, scores=[2, 4], status="abandoned")
    figures = overview(experiment=experiment)
    assert (figures.sessions_completed, figures.sessions_abandoned, figures.bonus_raters) == (
        4,
        1,
        1,
    )
    assert figures.cost_usd == Decimal("2.10")  # 4 x 0.50 + 1 x 0.10


def test_the_dashboard_shows_the_test(staff_client: Client, experiment: Experiment) -> None:
    stimuli = make_stimuli(experiment, 3, cluster=1)
    SessionFactory(experiment=experiment)
    rater = RaterFactory(experiment=experiment, external_id="W-17")
    take_session(rater=rater, stimuli=stimuli, scores=[1, 3, 5])
    take_session(rater=rater, stimuli=stimuli, scores=[3, 3, 3])
    results_refresh(experiment=experiment)
    page = staff_client.get(_url("dashboard")).content.decode()
    for text in (
        'rated stimuli in <span data-live="clusters">1</span> clusters',
        'sessions valid (<span data-live="sessions_invalid">1</span> invalid)',
        '$<span data-live="cost_usd">0.50</span>',  # the session screened out is not paid
        "link:W-17",
        "low_variance \u00d7 1",
        _url("plot_mos"),
        _url("plot_progress"),
        'id="reliability"',
        "Valid votes per stimulus",
    ):
        assert text in page, text
    assert 'id="judges-pairs"' not in page  # an ACR test's results are per stimulus
    assert "Downloads need the permission" in page
    assert _url("export_zip") not in page


def test_the_live_endpoint_follows_new_votes(staff_client: Client, experiment: Experiment) -> None:
    stimuli = make_stimuli(experiment, 2)
    take_session(rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=[2, 4])
    before = staff_client.get(_url("live")).json()
    assert (before["votes"], before["votes_unscreened"], before["sessions_valid"]) == (2, 2, 0)
    take_session(rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=[1, 5])
    experiment_screen(experiment=experiment)
    after = staff_client.get(_url("live")).json()
    assert (after["votes"], after["votes_valid"], after["sessions_valid"]) == (4, 4, 2)
    assert after["cost_usd"] == "1.00" and after["last_vote_at"]


def test_plots_are_pngs(staff_client: Client, experiment: Experiment) -> None:
    for name in ("plot_mos", "plot_progress"):  # empty experiment: a note, still a PNG
        assert staff_client.get(_url(name)).content.startswith(PNG)
    stimuli = bulk_stimuli(experiment, 120)
    bulk_votes(experiment, [[(s.pk, 1 + (i * 7 + s.pk) % 5) for s in stimuli] for i in range(6)])
    results_refresh(experiment=experiment)
    for name in ("plot_mos", "plot_progress"):
        response = staff_client.get(_url(name))
        assert response["Content-Type"] == "image/png"
        assert response.content.startswith(PNG) and len(response.content) > 10_000
    svg = staff_client.get(_url("plot_mos") + "?format=svg")  # for a paper
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content[:500]
    assert "attachment" in svg["Content-Disposition"]
    assert staff_client.get(_url("plot_mos") + "?format=gif").status_code == 400
    # The interactive plot's points are in the page: one per stimulus with its details.
    page = staff_client.get(_url("dashboard")).content.decode()
    found = re.search(r'id="mos-points" type="application/json">(.*?)</script>', page)
    assert found is not None
    points = json.loads(found.group(1))
    assert len(points) == 120
    assert set(points[0]) == {"stimulus", "name", "mos", "ci", "n", "cluster", "group", "audio"}


def test_reliability_is_shown_and_exported_with_its_interval(
    staff_client: Client, experiment: Experiment
) -> None:
    """A crowd that agrees (each stimulus's votes one step around its level) gets a high
    alpha and split-half figure, with a CI; the same figures go into export.json."""
    from crowdtest.exports import export_manifest

    stimuli = bulk_stimuli(experiment, 60)
    level = {s.pk: 1 + i % 5 for i, s in enumerate(stimuli)}
    columns = [
        [(s.pk, min(5, max(1, level[s.pk] + (0, 0, 1, -1)[(i + s.pk) % 4]))) for s in stimuli]
        for i in range(8)
    ]
    bulk_votes(experiment, columns, valid=True)
    page = staff_client.get(_url("dashboard")).content.decode()
    assert "Krippendorff's alpha (ordinal)" in page
    assert "From 480 valid votes on 60 stimuli" in page
    section = export_manifest(experiment)["reliability"]
    alpha, half = section["krippendorff_alpha_ordinal"], section["split_half_spearman_brown"]
    assert alpha["value"] > 0.7 and half["value"] > 0.9
    assert alpha["low"] <= alpha["value"] <= alpha["high"] < 1
    assert f"{alpha['value']:.3f}" in page
    # No valid vote yet: the dashboard says what is needed instead of a figure.
    Vote.objects.update(valid=False)
    page = staff_client.get(_url("dashboard")).content.decode()
    assert "Needs valid votes from at least two raters" in page
    assert export_manifest(experiment)["reliability"]["krippendorff_alpha_ordinal"]["value"] is None


def test_progress_series_accumulates_votes_and_ci_width(experiment: Experiment) -> None:
    [stimulus] = bulk_stimuli(experiment, 1)
    start = timezone.now() - timedelta(days=2)
    bulk_votes(experiment, [[(stimulus.pk, 2), (stimulus.pk, 4)]], start=start)
    bulk_votes(
        experiment,
        [[(stimulus.pk, 3), (stimulus.pk, 5)]],
        start=start + timedelta(days=1),
    )
    experiment_screen(experiment=experiment)
    series = progress_series(experiment=experiment)
    assert len(series.times) == 2  # one bucket per hour with votes
    assert series.votes == [2, 4] and series.votes_valid == [2, 4]
    # After day 1: votes 2, 4 (s = sqrt 2); after day 2: 2, 4, 3, 5 (s = sqrt(5/3)).
    assert series.ci_full_mean[0] == pytest.approx(2 * 1.96 * 2**0.5 / 2**0.5)
    assert series.ci_full_mean[1] == pytest.approx(2 * 1.96 * (5 / 3) ** 0.5 / 2)


def test_admins_override_from_the_sessions_page(
    client: Client, experiment: Experiment, admin_user: User
) -> None:
    stimuli = make_stimuli(experiment, 2)
    assignment = take_session(
        rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=[3, 3]
    )
    experiment_screen(experiment=experiment)
    client.force_login(admin_user)
    page = client.get(_url("session_list")).content.decode()
    assert "low_variance" in page and _url("override", assignment.pk) in page
    # The row's select shows its own verdict (invalid here), with ids of its own.
    select = re.search(
        rf'<select name="verdict" id="verdict-{assignment.pk}".*?</select>', page, re.S
    )
    assert select and '<option value="invalid" selected>' in select.group(0)
    assert '<option value="valid" selected>' not in select.group(0)
    response = client.post(
        _url("override", assignment.pk), {"verdict": "valid", "note": "Heard it myself"}
    )
    assert response.status_code == 302
    assert SessionVerdict.objects.get(assignment=assignment).valid is True
    assert VerdictOverride.objects.get().by == admin_user
    assert "Heard it myself" in client.get(_url("session_list")).content.decode()


def test_staff_without_the_override_permission_cannot_override(
    staff_client: Client, experiment: Experiment, staff_user: User
) -> None:
    stimuli = make_stimuli(experiment, 2)
    assignment = take_session(
        rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=[3, 3]
    )
    experiment_screen(experiment=experiment)
    url = _url("override", assignment.pk)
    assert url not in staff_client.get(_url("session_list")).content.decode()
    assert staff_client.post(url, {"verdict": "valid", "note": "x"}).status_code == 403
    staff_user.user_permissions.add(Permission.objects.get(codename="override_verdict"))
    staff_client.force_login(staff_user)  # drop the cached permissions
    assert staff_client.post(url, {"verdict": "valid", "note": "x"}).status_code == 302
    assert not VerdictOverride.objects.filter(note="").exists()
    # A note too long for the record is refused saying so; nothing is recorded.
    refused = staff_client.post(url, {"verdict": "invalid", "note": "y" * 2001}, follow=True)
    assert "at most 2000 characters" in refused.content.decode()
    assert VerdictOverride.objects.filter(assignment=assignment).count() == 1


def test_refresh_runs_screening_and_mos_as_a_job(
    staff_client: Client,
    experiment: Experiment,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    stimuli = make_stimuli(experiment, 2)
    take_session(rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=[2, 5])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(_url("refresh"))
    assert response.status_code == 302
    assert set(Vote.objects.values_list("valid", flat=True)) == {True}
    page = staff_client.get(_url("dashboard")).content.decode()
    assert "refresh_results" in page and "succeeded" in page
    assert "MOS of 2 stimuli from 2 valid votes" in page


# --- Query counts: the same whatever the number of votes ---------------------------------
# Building 100,000 votes through the ORM takes a minute on a shared machine; the point here
# is that no page issues a query per vote, stimulus, rater or session, which 10,000 votes
# over 1,000 stimuli and 500 raters show as well. `python -m bench mos` times the same
# reads on PostgreSQL with 1,000,000 votes.


def _build(experiment: Experiment, *, sessions: int, stimuli: int) -> None:
    ids = [s.pk for s in bulk_stimuli(experiment, stimuli)]
    per_session = 20
    columns = [
        [(ids[(i * per_session + j) % stimuli], 1 + (i + j * 3) % 5) for j in range(per_session)]
        for i in range(sessions)
    ]
    bulk_votes(experiment, columns)
    results_refresh(experiment=experiment)


# Including the session and user lookups of the staff login.
PAGE_QUERIES = {
    # with the MOS plot's points (one query, however many stimuli) and the reliability
    # figures: which votes are valid, then (not held for those votes yet) their scores
    "dashboard": 22,
    "live": 13,
    "plot_progress": 5,
    "plot_mos": 4,
    "mos_list": 4,
    "session_list": 7,
}


@pytest.mark.parametrize(
    ("sessions", "stimuli"),
    [pytest.param(1, 10, id="20-votes"), pytest.param(500, 1_000, id="10k-votes")],
)
def test_pages_make_a_fixed_number_of_queries(
    staff_client: Client,
    experiment: Experiment,
    django_assert_num_queries: DjangoAssertNumQueries,
    sessions: int,
    stimuli: int,
) -> None:
    _build(experiment, sessions=sessions, stimuli=stimuli)
    assert Vote.objects.count() == sessions * 20
    for page, queries in PAGE_QUERIES.items():
        with django_assert_num_queries(queries, info=page):
            assert staff_client.get(_url(page)).status_code == 200


def test_the_live_raters_view_is_for_staff_and_leaves_previews_out(
    staff_client: Client, experiment: Experiment
) -> None:
    from django.test import Client

    stimuli = make_stimuli(experiment, 2)
    take_session(
        rater=RaterFactory(experiment=experiment, external_id="W-9"), stimuli=stimuli, scores=[2, 4]
    )
    take_session(
        rater=RaterFactory(experiment=experiment, platform="staff"), stimuli=stimuli, scores=[3, 3]
    )
    rows = staff_client.get(_url("raters_live_json")).json()["rows"]
    assert [r["rater"] for r in rows] == ["link:W-9"]
    assert rows[0]["status"] == "completed" and rows[0]["verdict"] is None  # not screened yet
    experiment_screen(experiment=experiment)
    assert staff_client.get(_url("raters_live_json")).json()["rows"][0]["verdict"] == "valid"
    assert "link:W-9" in staff_client.get(_url("raters_live")).content.decode()
    assert Client().get(_url("raters_live_json")).status_code == 302  # to the login page


def test_the_rater_report_can_stop_at_the_first_raters(
    experiment: Experiment, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    stimuli = make_stimuli(experiment, 3)
    raters = [RaterFactory(experiment=experiment) for _ in range(4)]
    for i, rater in enumerate(raters):
        take_session(rater=rater, stimuli=stimuli[: i % 3 + 1], scores=[3, 4, 5][: i % 3 + 1])
    experiment_screen(experiment=experiment)
    everyone = selectors.rater_report(experiment=experiment)
    with django_assert_num_queries(3):
        first = selectors.rater_report(experiment=experiment, limit=2)
    assert [r["pk"] for r in first] == [r.pk for r in raters[:2]]
    assert first == everyone[:2]  # the same rows, votes and reasons counted the same
    assert [r["votes"] for r in first] == [1, 2]
