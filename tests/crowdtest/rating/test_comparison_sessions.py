"""DCR, CCR and pairwise sessions taken through the real rater API by a simulated crowd
(`modeling.crowd`) on versions of known quality, screened, then read back through the
staff exports: the known order is recovered, CCR's sign follows the better version,
random raters are caught, a vote sent twice is harmless, and no answer key reaches the
page or its JSON."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from crowdtest.exports import export_one
from crowdtest.rating.models import AssignmentItem, Vote
from crowdtest.rating.openapi import SCALE_MESSAGES
from crowdtest.results.dashboard import overview, progress_series
from crowdtest.results.models import RaterVerdict, SessionVerdict
from crowdtest.results.services.mos import results_refresh
from modeling.crowd import SimulatedRater
from modeling.ranking import kendall_tau
from tests.crowdtest.rating.comparison_designs import (
    Versions,
    comparison_experiment,
    design_comparison,
    take_answering,
)
from tests.crowdtest.rating.designs import RaterClient

pytestmark = pytest.mark.django_db


def answer_of(
    built: Versions, rater: SimulatedRater, rng: np.random.Generator
) -> Callable[[AssignmentItem], int]:
    """How a simulated rater answers a clip of the session: traps as the rater does
    (a careless one misses them), pairs by the method."""
    method = built.experiment.config.test_method

    def answer(item: AssignmentItem) -> int:
        check = item.trap or item.gold
        if check is not None:
            low, high = {"dcr": (1, 5), "ccr": (-3, 3), "pairwise": (1, 2)}[method]
            if item.gold is not None and rater.strategy is not None:
                return int(rng.integers(low, high + 1))  # a gold pair is music: not heard
            # A trap asks for its answer; a gold pair's ruined copy is plain to hear.
            return rater.answer_trap(check.answer, rng, (low, high))
        comparison = item.comparison
        assert comparison is not None
        first = built.quality[comparison.first_id]
        second = built.quality[comparison.second_id]
        if method == "ccr":
            return rater.compare(first, second, rng)
        if method == "pairwise":
            return 1 if rater.prefers_first(first, second, rng) else 2
        # DCR: the degradation of the second against the first, heard on 1..5.
        if rater.strategy is not None:
            return rater.rate(None, rng)
        return rater.rate(5.0 - max(0.0, first - second), rng)

    return answer


def crowd_take(
    client: Client, built: Versions, *, honest: int, random: int, seed: int = 0
) -> tuple[list[str], list[str]]:
    """`honest` then `random` raters (answering without listening, missing the traps)
    each take one session; returns their external ids."""
    rng = np.random.default_rng(seed)
    ids: tuple[list[str], list[str]] = ([], [])
    for n, rater in enumerate(
        [SimulatedRater(spread=0.5)] * honest
        + [SimulatedRater(strategy="uniform", careless=True)] * random
    ):
        external = f"{'cheat' if rater.strategy else 'honest'}-{n}"
        rc = RaterClient(client, built.experiment, external_id=external)
        state = take_answering(rc, answer_of(built, rater, rng))
        assert state["stage"] == "finished", state
        ids[rater.strategy is not None].append(external)
    return ids


def download(
    client: Client, built: Versions, name: str, django_user_model: type[User]
) -> list[dict[str, str]]:
    user = django_user_model.objects.create_user(username=f"exporter-{name}", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="export_experiment"))
    client.force_login(user)
    response = client.get(reverse("results:export_file", args=[built.experiment.slug, name]))
    client.logout()
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def tau_of(order: list[str], truth: list[str]) -> float:
    """Kendall's tau between two orders of the same file names."""
    return kendall_tau([truth.index(name) for name in order], range(len(truth)))


def invalid_share(built: Versions, externals: list[str]) -> float:
    verdicts = SessionVerdict.objects.filter(
        experiment=built.experiment, assignment__rater__external_id__in=externals
    )
    return sum(not v.valid for v in verdicts) / max(1, verdicts.count())


def test_pairwise_ranking_recovers_the_known_order(
    client: Client, django_user_model: type[User]
) -> None:
    built = comparison_experiment("pairwise", votes=12, per_session=10)
    design_comparison(built)
    n_sessions = built.experiment.sessions.filter(kind="rating").count()
    honest, cheats = crowd_take(client, built, honest=n_sessions - 2, random=2)
    results_refresh(experiment=built.experiment)
    assert invalid_share(built, cheats) == 1.0
    assert invalid_share(built, honest) == 0.0
    rows = download(client, built, "rankings.csv", django_user_model)
    order = [row["filename"] for row in sorted(rows, key=lambda r: int(r["rank"]))]
    truth = [v.track.original_name for v in built.versions]
    tau = tau_of(order, truth)
    print(f"pairwise: Kendall's tau {tau:.3f}, P(top is best) {rows[0]['p_top_best']}")
    assert tau >= 0.7
    assert order[0] == truth[0]
    # Only the valid votes count: the random raters' judgements are left out.
    valid = Vote.objects.filter(experiment=built.experiment, valid=True, comparison__isnull=False)
    assert int(rows[0]["judgements"]) == valid.filter(phase="rating").count()
    assert all(float(r["ci95_low"]) <= float(r["strength"]) <= float(r["ci95_high"]) for r in rows)
    # The Results tab plots and tables the same ranking.
    client.force_login(django_user_model.objects.create_user(username="staff", is_staff=True))
    page = client.get(reverse("results:dashboard", args=[built.experiment.slug])).content.decode()
    assert 'id="comparison-chart"' in page and 'id="rankings"' in page
    assert "comparison_plot.js" in page and truth[0] in page


def test_ccr_mean_sign_follows_the_better_version(
    client: Client, django_user_model: type[User]
) -> None:
    # The reference (v0) is the best version: every processed one is worse.
    built = comparison_experiment("ccr", qualities=(4.5, 3.0, 2.0, 3.5), votes=8, per_session=6)
    design_comparison(built)
    n_sessions = built.experiment.sessions.filter(kind="rating").count()
    _, cheats = crowd_take(client, built, honest=n_sessions - 2, random=2, seed=1)
    results_refresh(experiment=built.experiment)
    assert invalid_share(built, cheats) == 1.0
    rows = download(client, built, "pairs.csv", django_user_model)
    assert len(rows) == 3
    right = 0
    for row in rows:
        processed = next(v for v in built.versions if v.track.original_name == row["processed"])
        truth = built.quality[processed.pk] - built.quality[built.versions[0].pk]
        right += np.sign(float(row["mean"])) == np.sign(truth)
        # Both orders were played, and the order was undone: a vote given with the
        # processed version first was turned round.
        assert int(row["reference_first_votes"]) > 0 and int(row["processed_first_votes"]) > 0
    print(f"ccr: mean sign right on {right} of {len(rows)} pairs")
    assert right == len(rows)
    # The staff exports name each pair's versions in the order played (and the traps'
    # answers by the method's labels).
    votes = download(client, built, "votes.csv", django_user_model)
    pairs = [v for v in votes if v["item"] == "comparison"]
    assert pairs and {v["reference_first"] for v in pairs} == {"0", "1"}
    planned = download(client, built, "sessions.csv", django_user_model)
    labels = {row["expected_label"] for row in planned if row["item"] == "trap"}
    assert labels and labels <= {"much worse", "worse", "about the same", "better", "much better"}
    assert any(row["item"] == "comparison" and row["second_stimulus_id"] for row in planned)


def test_dcr_dmos_orders_the_restorations(client: Client, django_user_model: type[User]) -> None:
    built = comparison_experiment("dcr", qualities=(4.5, 4.3, 3.0, 1.5), votes=8, per_session=6)
    design_comparison(built)
    n_sessions = built.experiment.sessions.filter(kind="rating").count()
    crowd_take(client, built, honest=n_sessions, random=0, seed=2)
    results_refresh(experiment=built.experiment)
    rows = download(client, built, "pairs.csv", django_user_model)
    dmos = {row["processed"]: float(row["mean"]) for row in rows}
    assert {r["method"] for r in rows} == {"dcr"}
    assert dmos["work/v1.wav"] > dmos["work/v2.wav"] > dmos["work/v3.wav"]
    assert all(int(r["processed_first_votes"]) == 0 for r in rows)
    client.force_login(django_user_model.objects.create_user(username="staff", is_staff=True))
    page = client.get(reverse("results:dashboard", args=[built.experiment.slug])).content.decode()
    assert 'id="pairs"' in page and "DMOS (P.808 Annex D)" in page
    # The panels that read votes on single stimuli give way to a word on why.
    assert 'id="judges-pairs"' in page and 'id="reliability"' not in page
    assert "Valid votes per stimulus" not in page and 'id="mos-explore"' not in page
    # The dashboard counts the judgements of pairs, which are this test's votes.
    judged = Vote.objects.filter(experiment=built.experiment, phase="rating")
    judged = judged.filter(comparison__isnull=False)
    counted = overview(experiment=built.experiment)
    assert counted.votes == judged.count() > 0 and counted.last_vote_at is not None
    assert counted.votes_valid == judged.filter(valid=True).count()
    series = progress_series(experiment=built.experiment)
    assert series.votes[-1] == judged.count() and series.ci_full_mean[-1] is not None
    # So do the exports' vote counts per rater and per session.
    raters = download(client, built, "raters.csv", django_user_model)
    assert sum(int(r["rating_votes"]) for r in raters) == judged.count()
    verdicts = download(client, built, "verdicts.csv", django_user_model)
    assert sum(int(r["rating_votes"]) for r in verdicts) == judged.count()


@pytest.mark.parametrize(
    ("method", "scale", "off"),
    [("dcr", range(1, 6), 0), ("ccr", range(-3, 4), 4), ("pairwise", (1, 2), 3)],
)
def test_a_vote_sent_twice_is_harmless_and_off_scale_is_refused(
    client: Client, method: str, scale: Sequence[int], off: int
) -> None:
    built = comparison_experiment(method, qualities=(4.0, 3.0, 2.0), votes=2, per_session=4)
    design_comparison(built)
    rc = RaterClient(client, built.experiment)
    clip = take_answering(rc, lambda item: 1, until="rating")["clips"][0]["clip"]
    assert rc.post("play", {"clip": clip}).status_code == 200
    refused = rc.post("rate", {"clip": clip, "score": off})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    # Said on this test's own scale.
    assert refused.json()["error"] == SCALE_MESSAGES[method]
    given = max(scale)
    first = rc.post("rate", {"clip": clip, "score": given})
    again = rc.post("rate", {"clip": clip, "score": given})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert Vote.objects.filter(item__clip_key=clip).count() == 1
    changed = rc.post("rate", {"clip": clip, "score": min(scale)})
    assert changed.status_code == 409 and changed.json()["code"] == "already_rated"


@pytest.mark.parametrize("method", ["dcr", "ccr", "pairwise"])
def test_no_answer_key_reaches_the_page_or_its_json(client: Client, method: str) -> None:
    built = comparison_experiment(method, qualities=(4.0, 3.0, 2.0), votes=2, per_session=4)
    design_comparison(built)
    entry = client.get(
        f"/take/{built.experiment.slug}/",
        {
            "workerId": "W1",
            "assignmentId": "A1",
            "hitId": "H1",
            "turkSubmitTo": "https://www.mturk.com",
        },
    )
    page = entry.content.decode()
    rc = RaterClient(client, built.experiment, "W1", "mturk", assignment_id="A1")
    found = re.search(r'data-token="([^"]+)"', page)
    assert found is not None
    rc.token = found.group(1)
    take_answering(rc, lambda item: 1)
    texts = [page] + [r.content.decode() for r in rc.responses]
    items = AssignmentItem.objects.filter(assignment__rater__external_id="W1")
    secrets_: list[str] = []
    for item in items.select_related("comparison", "trap", "gold", "assignment__digits_clip"):
        clip = item.comparison or item.trap or item.gold
        assert clip is not None and clip.delivery.name is not None
        secrets_ += [clip.media_key, clip.delivery.name]
    first = items.first()
    assert first is not None
    assignment = first.assignment
    assert assignment.digits_clip is not None
    for text in texts:
        for secret in secrets_:
            assert secret not in text
        assert not re.search(rf"\b{assignment.digits_clip.digits}\b", text)
        assert not re.search(r'"(reference|reference_first|answer|first|second|work_id)"', text)
        assert "math_answer" not in text
    # The rater's page shows the method's own scale.
    labels = {"dcr": "Degradation is inaudible", "ccr": "Much better", "pairwise": "The first"}
    assert labels[method] in page
    # Top to bottom: the best answer first, a pairwise test's versions in the order played.
    scores = [int(s) for s in re.findall(r'class="score" data-score="(-?\d)"', page)]
    assert (
        scores
        == {"dcr": [5, 4, 3, 2, 1], "ccr": [3, 2, 1, 0, -1, -2, -3], "pairwise": [1, 2]}[method]
    )


def test_validity_over_five_simulated_crowds(client: Client) -> None:
    """Five crowds (seeds 0..4) of honest raters and two random raters who miss the traps
    each: pairwise on 6 versions, CCR on 4 pairs, one a close call (0.3 points).
    `pytest -s` prints each crowd's figures."""
    taus, signs, caught, wrongly = [], [], [], []
    for seed in range(5):
        built = comparison_experiment("pairwise", votes=12, per_session=10, settings={"seed": seed})
        design_comparison(built)
        n = built.experiment.sessions.filter(kind="rating").count()
        honest, cheats = crowd_take(client, built, honest=n - 2, random=2, seed=seed)
        results_refresh(experiment=built.experiment)
        rows = list(csv.DictReader(io.StringIO(export_one(built.experiment, "rankings.csv"))))
        order = [r["filename"] for r in sorted(rows, key=lambda r: int(r["rank"]))]
        taus.append(tau_of(order, [v.track.original_name for v in built.versions]))
        caught.append(invalid_share(built, cheats))
        wrongly.append(invalid_share(built, honest))
        print(
            f"pairwise seed {seed}: tau {taus[-1]:.3f}, P(top is best) {rows[0]['p_top_best']}"
            f", {rows[0]['judgements']} valid judgements"
        )
        built = comparison_experiment(
            "ccr",
            qualities=(4.5, 3.0, 2.0, 3.5, 4.2),
            votes=8,
            per_session=6,
            settings={"seed": seed},
        )
        design_comparison(built)
        n = built.experiment.sessions.filter(kind="rating").count()
        honest, cheats = crowd_take(client, built, honest=n - 2, random=2, seed=seed + 10)
        results_refresh(experiment=built.experiment)
        quality = {v.track.original_name: built.quality[v.pk] for v in built.versions}
        rows = list(csv.DictReader(io.StringIO(export_one(built.experiment, "pairs.csv"))))
        right = sum(
            np.sign(float(r["mean"])) == np.sign(quality[r["processed"]] - quality[r["reference"]])
            for r in rows
        )
        signs.append(right / len(rows))
        caught.append(invalid_share(built, cheats))
        wrongly.append(invalid_share(built, honest))
        print(f"ccr seed {seed}: mean sign right on {right} of {len(rows)} pairs")
    print(
        f"mean tau {np.mean(taus):.3f}; CCR sign right {np.mean(signs):.0%}; random raters' "
        f"sessions screened out {np.mean(caught):.0%}, honest ones {np.mean(wrongly):.0%}"
    )
    assert np.mean(taus) >= 0.8 and np.mean(signs) >= 0.75
    assert min(caught) == 1.0 and max(wrongly) == 0.0


@pytest.mark.parametrize(
    ("method", "qualities", "votes"),
    [
        ("dcr", (4.5, 3.0, 2.0, 3.5, 4.2, 1.5, 2.6), 36),
        # A reference and six processed versions: six pairs, each played in both orders.
        ("ccr", (4.5, 3.0, 2.0, 3.5, 4.2, 1.5, 2.6), 36),
        # Six versions: fifteen pairs.
        ("pairwise", (4.6, 3.9, 3.2, 2.5, 1.8, 1.2), 72),
    ],
)
def test_random_raters_who_pass_the_traps_are_screened_out(
    client: Client, method: str, qualities: tuple[float, ...], votes: int
) -> None:
    """Raters who answer every trap right but the pairs at random pass the trap rule. The
    gold pairs (music beside its ruined copy, answered at random too) fail their
    sessions, and the rater verdict correlates each rater's answers with the other raters'
    on the same pairs (the CCR order undone, a preference as one direction) and with the
    gold pairs' known answers; a rater who misses more than a third of the gold pairs over
    all their sessions is out. `pytest -s` prints the figures."""
    built = comparison_experiment(
        method,
        qualities=qualities,
        votes=votes,
        per_session=10,
        settings={
            "min_rater_pcc": 0.3,
            "min_rater_answers": 10,
            "max_sessions_per_rater": 3,
            "trap_sources": 2,
            "gold_per_session": 3,
            "seed": 3,
        },
    )
    design_comparison(built)
    experiment = built.experiment
    gold = experiment.gold_clips.all()
    assert gold.count() == 2 * len(built.sources)  # music and its ruined copy, both orders
    n = experiment.sessions.filter(kind="rating").count()
    rng = np.random.default_rng(4)
    # Each rater takes three sessions, so the rater verdict has answers to judge.
    crowd = [SimulatedRater(spread=0.5)] * (n // 3 - 4) + [SimulatedRater(strategy="uniform")] * 4
    for i, rater in enumerate(crowd):
        external = f"{'cheat' if rater.strategy else 'honest'}-{i}"
        rc = RaterClient(client, experiment, external_id=external)
        for _ in range(3):
            assert take_answering(rc, answer_of(built, rater, rng))["stage"] == "finished"
    results_refresh(experiment=experiment)
    judged = Vote.objects.filter(experiment=experiment, comparison__isnull=False, phase="rating")
    counted = judged.filter(valid=True)
    cheats = [f"cheat-{i}" for i, r in enumerate(crowd) if r.strategy]
    honest = [f"honest-{i}" for i, r in enumerate(crowd) if not r.strategy]
    left = counted.filter(rater__external_id__in=cheats).count()
    sessions = SessionVerdict.objects.filter(experiment=experiment)
    cheat_sessions = sessions.filter(assignment__rater__external_id__in=cheats)
    verdicts = RaterVerdict.objects.filter(experiment=experiment)
    honest_r = [v.pcc for v in verdicts.filter(rater__external_id__in=honest) if v.pcc is not None]
    print(
        f"\n{method}: {n} sessions; random raters' sessions screened out "
        f"{cheat_sessions.filter(valid=False).count()} of {cheat_sessions.count()} (gold "
        f"{sum('gold_wrong' in v.reasons for v in cheat_sessions)}), their judgements "
        f"left {left} of {judged.filter(rater__external_id__in=cheats).count()}; honest "
        f"sessions screened out "
        f"{sessions.filter(assignment__rater__external_id__in=honest, valid=False).count()}, "
        f"honest raters' lowest r {min(honest_r):.2f}"
    )
    assert not sessions.filter(assignment__rater__external_id__in=honest, valid=False).exists()
    assert not verdicts.filter(rater__external_id__in=honest, valid=False).exists()
    assert counted.filter(rater__external_id__in=honest).count() == (
        judged.filter(rater__external_id__in=honest).count()
    )
    # A random rater whose gold answers were right by chance in enough sessions can stay
    # (DCR accepts two of five answers to a gold pair): at most a tenth of their
    # judgements is left in.
    assert 10 * left <= judged.filter(rater__external_id__in=cheats).count()
