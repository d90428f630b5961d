"""MOS, std, n and 95% CIs computed in the database: hand-computed values, agreement with
`modeling.mos`, which votes count, and the Vinylset file rebuilt from votes."""

from __future__ import annotations

import csv
import itertools
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from crowdtest.corpus.models import Experiment
from crowdtest.exports import export_one
from crowdtest.results.models import RaterEstimate, StimulusMOS
from crowdtest.results.selectors import stimulus_vote_stats
from crowdtest.results.services import mos_compute, results_refresh
from modeling.mos import ci_half_width_normal, mos_summary, votes_from_ci
from tests.factories import RaterFactory, TrapFactory

from .builders import bulk_stimuli, bulk_votes, make_stimuli, set_config, take_session

VINYLSET = Path(__file__).resolve().parents[2] / "data" / "vinylset_MOS.csv"


def test_mos_std_and_cis_match_hand_computed_values(experiment: Experiment) -> None:
    [stimulus] = bulk_stimuli(experiment, 1)
    bulk_votes(experiment, [[(stimulus.pk, score)] for score in (1, 2, 3, 4, 5)], valid=True)
    [stats] = stimulus_vote_stats(experiment=experiment)
    # mean 3; s^2 = (4+1+0+1+4)/4 = 2.5; CI = 1.96 * sqrt(2.5)/sqrt(5) = 1.96 * sqrt(0.5);
    # t(0.975, 4) = 2.7764451.
    assert (stats.n, stats.votes_total) == (5, 5)
    assert stats.mos == 3.0
    assert stats.std == pytest.approx(math.sqrt(2.5), abs=1e-12)
    assert stats.ci95_normal == pytest.approx(1.3859292911256333, abs=1e-12)
    assert stats.ci95_t == pytest.approx(2.7764451051977987 * math.sqrt(0.5), abs=1e-9)


def test_a_single_vote_has_no_spread(experiment: Experiment) -> None:
    [stimulus] = bulk_stimuli(experiment, 1)
    bulk_votes(experiment, [[(stimulus.pk, 4)]], valid=True)
    [stats] = stimulus_vote_stats(experiment=experiment)
    assert (stats.mos, stats.std, stats.ci95_normal, stats.ci95_t) == (4.0, None, None, None)


def test_database_statistics_agree_with_modeling(experiment: Experiment) -> None:
    stimuli = bulk_stimuli(experiment, 12)
    rng = np.random.default_rng(7)
    columns = [
        [(s.pk, int(rng.integers(1, 6))) for s in stimuli if rng.random() < 0.8] for _ in range(25)
    ]
    bulk_votes(experiment, columns, valid=True)
    by_stimulus: dict[int, list[int]] = {}
    for column in columns:
        for stimulus_id, score in column:
            by_stimulus.setdefault(stimulus_id, []).append(score)
    for stats in stimulus_vote_stats(experiment=experiment):
        expected = mos_summary(by_stimulus[stats.stimulus_id])
        assert stats.n == expected.n
        assert stats.mos == pytest.approx(expected.mos, abs=1e-12)
        assert stats.std == pytest.approx(expected.std, abs=1e-12)
        assert stats.ci95_normal == pytest.approx(expected.ci95_normal, abs=1e-12)
        assert stats.ci95_t == pytest.approx(expected.ci95_t, abs=1e-12)


def test_only_valid_rating_votes_on_stimuli_count(experiment: Experiment) -> None:
    [stimulus, other] = make_stimuli(experiment, 2)
    trap = TrapFactory(source__track__experiment=experiment, answer=5)
    take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=[stimulus, other],
        scores=[4, 2],
        traps=[(trap, 5)],
        training=[(stimulus, 1)],
    )
    take_session(  # invalid: wrong math; its 1 must not count
        rater=RaterFactory(experiment=experiment),
        stimuli=[stimulus, other],
        scores=[1, 5],
        math_given=0,
    )
    take_session(
        rater=RaterFactory(experiment=experiment), stimuli=[stimulus, other], scores=[5, 3]
    )
    report = results_refresh(experiment=experiment)
    rows = {r.stimulus_id: r for r in StimulusMOS.objects.all()}
    assert (rows[stimulus.pk].mos, rows[stimulus.pk].n, rows[stimulus.pk].votes_total) == (
        4.5,
        2,
        3,
    )
    assert rows[other.pk].mos == 2.5
    assert report.mos.votes == 4
    assert {r.source for r in rows.values()} == {"computed"}


def test_compute_mos_is_idempotent_and_keeps_imported_rows(experiment: Experiment) -> None:
    stimuli = bulk_stimuli(experiment, 3)
    bulk_votes(
        experiment, [[(s.pk, 1 + (i + j) % 5) for j, s in enumerate(stimuli)] for i in range(4)]
    )
    imported = StimulusMOS.objects.create(
        experiment=experiment,
        stimulus=stimuli[0],
        source=StimulusMOS.Source.IMPORTED,
        mos=3.3,
        computed_at="2024-01-01T00:00Z",
    )
    call_command("compute_mos", "vinyl")
    first = list(
        StimulusMOS.objects.filter(source="computed").values_list(
            "stimulus_id", "mos", "std", "n", "mosgroup"
        )
    )
    call_command("compute_mos", "vinyl")
    second = list(
        StimulusMOS.objects.filter(source="computed").values_list(
            "stimulus_id", "mos", "std", "n", "mosgroup"
        )
    )
    assert first == second and len(first) == 3
    assert StimulusMOS.objects.get(pk=imported.pk).mos == 3.3
    # MOS 2.5, 3.5, 3.25: lowest, highest and median of the 15 quantile classes.
    assert [(mos, group) for _, mos, _, _, group in first] == [
        (2.5, "Q1"),
        (3.5, "Q15"),
        (3.25, "Q8"),
    ]


# --- The Vinylset file ----------------------------------------------------------------


def _vinylset_rows() -> list[dict[str, str]]:
    with VINYLSET.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_vinylset_ci_is_the_normal_half_width_of_std_and_n() -> None:
    """Recompute every CI from std and the vote count it implies. One published row
    (NuclearCity) is 0.002 off: no integer n makes its CI 1.96*std/sqrt(n)."""
    rows = _vinylset_rows()
    ci = np.array([float(r["CI"]) for r in rows])
    std = np.array([float(r["std"]) for r in rows])
    n = votes_from_ci(ci, std)
    recomputed = ci_half_width_normal(std, n)
    off = [rows[i]["filename"] for i in np.flatnonzero(np.abs(recomputed - ci) > 1e-12)]
    assert off == ["4a/NuclearCity_aache320_ln_C4.wav"]
    assert (n.min(), n.max(), n.sum()) == (10, 21, 9382)


@cache
def _compositions(n: int) -> np.ndarray:
    """Every way to split n votes over the 5 ACR scores (counts of 1s..5s)."""
    return np.array(
        [(*c, n - sum(c)) for c in itertools.product(range(n + 1), repeat=4) if sum(c) <= n]
    )


def _votes_for(label: float, std: float, n: int) -> list[int] | None:
    """A set of n ACR votes whose mean rounds to `label` and whose std is `std`."""
    counts = _compositions(n)
    scores = np.arange(1, 6)
    s1, s2 = counts @ scores, counts @ scores**2
    sd = np.sqrt((n * s2 - s1**2) / (n * (n - 1)))
    match = np.flatnonzero((np.abs(np.round(s1 / n, 5) - label) < 1e-9) & (np.abs(sd - std) < 1e-9))
    if match.size == 0:
        return None
    return [int(score) for score, k in zip(scores, counts[match[0]]) for _ in range(k)]


@pytest.mark.slow
def test_votes_rebuilt_from_vinylset_give_back_its_columns(experiment: Experiment) -> None:
    """Votes that reproduce each Vinylset row, through screening, the database
    aggregation and the mos.csv export: label, CI, std and mosgroup come back."""
    # The sessions here are columns of shuffled votes, not raters: no rater verdict.
    set_config(experiment, min_rater_pcc=None)
    rows = _vinylset_rows()
    stimuli = bulk_stimuli(experiment, len(rows))
    # 21 sessions (the most votes a row has); each row's votes go, shuffled, to sessions
    # starting at a rotating offset, so that every session mixes scores like a rater's.
    rng = np.random.default_rng(0)
    voted: dict[str, dict[str, str]] = {}
    columns: list[list[tuple[int, int]]] = [[] for _ in range(21)]
    for k, (row, stimulus) in enumerate(zip(rows, stimuli)):
        std, ci = float(row["std"]), float(row["CI"])
        votes = _votes_for(float(row["label"]), std, int(votes_from_ci(ci, std)))
        if votes is None:  # the one inconsistent row, see above
            continue
        voted[stimulus.track.original_name] = row
        for j, score in enumerate(rng.permutation(votes)):
            columns[(k + j) % 21].append((stimulus.pk, int(score)))
    assert len(voted) == 619
    bulk_votes(experiment, columns)
    report = results_refresh(experiment=experiment)
    assert report.screening.valid == 21
    exported = list(csv.DictReader(export_one(experiment, "mos.csv").splitlines()))
    assert len(exported) == 619
    for out in exported:
        row = voted[out["filename"]]
        assert round(float(out["label"]), 5) == float(row["label"])
        assert float(out["std"]) == pytest.approx(float(row["std"]), abs=1e-12)
        assert float(out["CI"]) == pytest.approx(float(row["CI"]), abs=1e-12)
        assert out["n"] == str(votes_from_ci(float(row["CI"]), float(row["std"])))
    # The 15 classes of the 619 rows, as pandas.qcut makes them from our MOS.
    groups = [out["mosgroup"] for out in exported]
    assert sorted(set(groups), key=lambda g: int(g[1:])) == [f"Q{i}" for i in range(1, 16)]


def test_mos_compute_on_an_empty_experiment(experiment: Experiment) -> None:
    report = mos_compute(experiment=experiment)
    assert (report.stimuli, report.votes, report.mean_ci95_normal) == (0, 0, None)


def test_the_bias_corrected_mos_and_each_raters_bias_beside_the_plain_mos(
    experiment: Experiment,
) -> None:
    """Three raters on five stimuli, one voting exactly one point above another and one
    only on the first three: the corrected MOS takes the offset out of stimuli 4 and 5,
    raters.csv and mos.csv carry the estimates, the plain MOS stays the label."""
    stimuli = make_stimuli(experiment, 5)
    low, high, part = (RaterFactory(experiment=experiment) for _ in range(3))
    take_session(rater=low, stimuli=stimuli, scores=[1, 2, 3, 3, 4])
    take_session(rater=high, stimuli=stimuli, scores=[2, 3, 4, 4, 5])
    take_session(rater=part, stimuli=stimuli[:3], scores=[1, 2, 4])
    results_refresh(experiment=experiment)
    rows = {r.stimulus_id: r for r in StimulusMOS.objects.filter(experiment=experiment)}
    first, last = rows[stimuli[0].pk], rows[stimuli[4].pk]
    assert last.mos == pytest.approx(4.5) and first.mos == pytest.approx(4 / 3)
    # Stimulus 5 was rated by the low and the high rater only: their mean, 4.5, is its
    # quality once the biases (summing to zero over three raters) are taken out.
    assert last.mos_corrected is not None and last.ci95_corrected is not None
    assert last.mos_corrected == pytest.approx(4.5, abs=0.2)
    estimates = {e.rater_id: e for e in RaterEstimate.objects.filter(experiment=experiment)}
    assert estimates[high.pk].bias - estimates[low.pk].bias == pytest.approx(1.0, abs=0.15)
    assert {e.votes for e in estimates.values()} == {5, 3}
    assert all(e.inconsistency >= 0.1 for e in estimates.values())
    mos = {
        r["stimulus_id"]: r for r in csv.DictReader(export_one(experiment, "mos.csv").splitlines())
    }
    assert float(mos[str(stimuli[4].pk)]["mos_corrected"]) == pytest.approx(
        last.mos_corrected, abs=1e-4
    )
    assert mos[str(stimuli[4].pk)]["label"] == "4.5"
    raters = {
        r["rater_id"]: r for r in csv.DictReader(export_one(experiment, "raters.csv").splitlines())
    }
    assert float(raters[str(high.pk)]["bias"]) > 0 > float(raters[str(low.pk)]["bias"])
    assert float(raters[str(part.pk)]["inconsistency"]) > 0


def test_one_rater_gives_no_corrected_mos(experiment: Experiment) -> None:
    stimuli = make_stimuli(experiment, 3)
    take_session(rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=[1, 3, 5])
    results_refresh(experiment=experiment)
    assert StimulusMOS.objects.filter(experiment=experiment).count() == 3
    assert not StimulusMOS.objects.filter(mos_corrected__isnull=False).exists()
    assert not RaterEstimate.objects.exists()
