"""The rater verdict through the real API: a rater who answers every trap, digit and math
question right but rates the music at random passes every session rule, and is caught by
the default rule on the rater (their answers against the others' MOS and the gold clips'
known score), as soon as enough of their answers count; honest raters are kept."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from crowdtest.exports import export_one
from crowdtest.rating.models import AssignmentItem, Rater, Vote
from crowdtest.results.models import RaterVerdict, SessionVerdict, VoteExclusion
from crowdtest.results.services import experiment_screen
from modeling.crowd import GOLD_HEARD, SimulatedRater
from tests.crowdtest.rating.designs import RaterClient, make_design, take_session

pytestmark = pytest.mark.django_db

Score = Callable[[AssignmentItem], int]


def take_sessions(rc: RaterClient, score: Score) -> int:
    """Every session the rater can take, through the API, traps answered right and the
    rest scored by `score`; returns how many were finished."""
    finished = 0
    while True:
        state = take_session(rc, score)
        if "finish" not in state:  # refused: no session left for this rater
            return finished
        finished += 1
        if not state.get("finish", {}).get("another"):
            return finished


def test_a_random_rater_who_passes_the_traps_is_caught_live_and_honest_ones_kept(
    client: Client, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    built = make_design(
        n_clusters=3,
        size=9,
        per_cluster=3,
        votes=12,
        training=1,
        trap_sources=2,
        gold=True,
        settings={"min_rater_answers": 8, "max_sessions_per_rater": 20},
    )
    experiment = built.experiment
    # Raters take one of the first open sessions at random; seeded, so the crowd is the
    # same every run. (A random rater's correlation over n answers has an sd of about
    # 1/sqrt(n): with the ~33 answers here one in 25 gets past 0.3 by luck; the simulated
    # crowd in tests/modeling/test_rater_screening.py measures the rates at scale.)
    random.seed(1)
    rng = np.random.default_rng(5)
    # A narrow range of true quality, as in an archive (Vinylset's MOS sd is 0.35).
    truth = {s.pk: 3.2 + 0.25 * (i % 4) for i, s in enumerate(built.rated)}

    def answers(rater: SimulatedRater) -> Score:
        """The rater's score of a clip: a gold clip is known to be bad."""

        def score(item: AssignmentItem) -> int:
            quality = GOLD_HEARD if item.stimulus is None else truth[item.stimulus.pk]
            return rater.rate(quality, rng)

        return score

    crowd = [
        (f"honest-{i}", answers(SimulatedRater(bias=float(rng.normal(0, 0.3)), spread=0.7)))
        for i in range(7)
    ]
    # Rating at random, well spread: passes the variance rule.
    crowd += [(f"random-{i}", answers(SimulatedRater(strategy="uniform"))) for i in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        for name, score in crowd:
            assert take_sessions(RaterClient(client, experiment, external_id=name), score) >= 1

    verdicts = {v.rater.external_id: v for v in RaterVerdict.objects.select_related("rater").all()}
    # Every session passed the session rules: only the rater verdict tells them apart.
    failed = SessionVerdict.objects.filter(valid=False).values_list("reasons", flat=True)
    assert not failed, list(failed)
    for name in ("random-0", "random-1"):
        assert verdicts[name].valid is False, (name, verdicts[name].pcc)
        assert verdicts[name].reasons == ["low_rater_pcc"]
        assert verdicts[name].gold_answers >= 2
        mine = Vote.objects.filter(rater__external_id=name, phase="rating", stimulus__isnull=False)
        assert not mine.filter(valid=True).exists()
        assert set(VoteExclusion.objects.filter(vote__in=mine).values_list("rule", flat=True)) == {
            "rater_pcc"
        }
    kept = [verdicts[f"honest-{i}"] for i in range(7)]
    # The first raters had nobody to be compared with when they finished; they were
    # judged again as later sessions on their stimuli ended: none is left pending.
    assert all(v.valid is True for v in kept), [(v.valid, v.pcc) for v in kept]

    # Screening the experiment whole gives the same verdicts, none pending now.
    experiment_screen(experiment=experiment)
    again = {v.rater.external_id: v.valid for v in RaterVerdict.objects.select_related("rater")}
    assert again == {name: not name.startswith("random") for name, _ in crowd}
    assert not Vote.objects.filter(
        rater__external_id__startswith="random", valid=True, phase="rating", stimulus__isnull=False
    ).exists()
    assert Rater.objects.filter(experiment=experiment).count() == len(crowd)

    # raters.csv and the dashboard say who was left out, and why.
    rows = {
        r["platform_id"]: r
        for r in csv.DictReader(io.StringIO(export_one(experiment, "raters.csv")))
    }
    assert rows["random-0"]["rater_verdict"] == "invalid"
    assert rows["random-0"]["rater_reasons"] == "low_rater_pcc"
    assert float(rows["random-0"]["rater_pcc"]) < 0.3
    assert (
        rows["honest-0"]["rater_verdict"] == "valid" and int(rows["honest-0"]["rater_answers"]) >= 8
    )
    staff = Client()
    staff.force_login(User.objects.create_user("boss", is_staff=True, is_superuser=True))
    page = staff.get(reverse("results:dashboard", args=[experiment.slug])).content.decode()
    assert page.count(">invalid</span>") == 2
