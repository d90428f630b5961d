"""A comparison test that can't be built is refused at design time with every problem
named (a group of one, versions whose tracks differ in length or sample rate, a missing
reference), before anything is built or published; one that can is planned with far
fewer pairwise judgements than every pair would need."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.test import Client

from crowdtest.corpus.models import Experiment, Track
from crowdtest.design.models import Comparison, Session, SessionItem
from crowdtest.design.services import DesignError, design_build_start, design_numbers
from crowdtest.design.services.comparisons import comparison_plan, comparison_problems
from tests.crowdtest.rating.comparison_designs import comparison_experiment, design_comparison

pytestmark = pytest.mark.django_db


def _refusal(experiment: Experiment) -> str:
    with pytest.raises(DesignError) as refused:
        design_build_start(experiment=experiment)
    assert not Session.objects.filter(experiment=experiment).exists()
    return str(refused.value)


def test_a_group_of_one_is_refused() -> None:
    built = comparison_experiment("pairwise", qualities=(4.0, 3.0))
    Track.objects.filter(pk=built.versions[1].track_id).update(work_id="work-2")
    message = _refusal(built.experiment)
    assert "'work-1' has only one version (work/v0.wav)" in message
    assert "'work-2' has only one version (work/v1.wav)" in message


@pytest.mark.parametrize("method", ["dcr", "ccr", "pairwise"])
def test_versions_of_another_length_or_sample_rate_are_refused(method: str) -> None:
    built = comparison_experiment(method, qualities=(4.0, 3.0, 2.0))
    Track.objects.filter(pk=built.versions[1].track_id).update(duration_s=175.0)
    Track.objects.filter(pk=built.versions[2].track_id).update(sample_rate=48000)
    message = _refusal(built.experiment)
    assert "work/v1.wav and its reference work/v0.wav differ in length" in message
    assert "work/v2.wav and its reference work/v0.wav differ in sample rate" in message
    assert comparison_problems(experiment=built.experiment) == [message]


def test_a_missing_dcr_reference_is_refused() -> None:
    built = comparison_experiment("dcr", qualities=(4.0, 3.0))
    Track.objects.filter(pk=built.versions[1].track_id).update(reference="work/lost.wav")
    message = _refusal(built.experiment)
    assert "its reference work/lost.wav is missing" in message


def test_a_reference_whose_stimulus_failed_is_missing() -> None:
    built = comparison_experiment("ccr", qualities=(4.0, 3.0))
    built.versions[0].status = "failed"
    built.versions[0].save(update_fields=["status"])
    assert "its reference work/v0.wav is missing" in _refusal(built.experiment)


def test_no_reference_at_all_says_how_to_give_one() -> None:
    built = comparison_experiment("dcr", qualities=(4.0, 3.0))
    Track.objects.filter(experiment=built.experiment).update(reference="")
    assert "give processed versions a `reference`" in _refusal(built.experiment)


def test_a_reference_may_be_named_by_its_file_name() -> None:
    built = comparison_experiment("dcr", qualities=(4.0, 3.0))
    Track.objects.filter(pk=built.versions[1].track_id).update(reference="v0.wav")
    plan = comparison_plan(
        experiment=built.experiment, numbers=design_numbers(experiment=built.experiment)
    )
    assert plan.pairs == [(built.versions[0].pk, built.versions[1].pk)]


def test_dcr_plays_the_reference_first_and_ccr_both_orders_evenly() -> None:
    for method in ("dcr", "ccr"):
        built = comparison_experiment(method, qualities=(4.0, 3.0, 2.0), votes=6)
        design_comparison(built)
        reference = built.versions[0].pk
        played = Counter(
            (item.comparison.reference_first, item.comparison.second_id)
            for item in SessionItem.objects.filter(
                session__experiment=built.experiment,
                session__kind="rating",
                comparison__isnull=False,
            ).select_related("comparison")
            if item.comparison is not None
        )
        assert sum(played.values()) == 2 * 6
        if method == "dcr":
            assert (
                all(first for first, _ in played)
                and Comparison.objects.filter(
                    experiment=built.experiment, first_id=reference
                ).count()
                == Comparison.objects.filter(experiment=built.experiment).count()
            )
        else:
            assert sum(n for (first, _), n in played.items() if first) == 6


def test_pairwise_plans_far_fewer_judgements_than_every_pair() -> None:
    built = comparison_experiment("pairwise", votes=15, per_session=10)
    design_comparison(built)
    items = SessionItem.objects.filter(
        session__experiment=built.experiment, session__kind="rating", comparison__isnull=False
    ).select_related("comparison")
    pairs = Counter(
        frozenset((i.comparison.first_id, i.comparison.second_id))
        for i in items
        if i.comparison is not None
    )
    assert sum(pairs.values()) == 15 * 5  # against 15 x 15 for every pair of 6 versions
    assert len(pairs) <= 15
    # Every version is judged about as often as the others (the most informative pair
    # spreads the judgements).
    seen = Counter(pk for pair, n in pairs.items() for pk in pair for _ in range(n))
    assert max(seen.values()) - min(seen.values()) <= 3
    # No session holds the same pair twice, and each has its trap and gold pairs.
    for session in Session.objects.filter(experiment=built.experiment, kind="rating"):
        held = [
            frozenset((i.comparison.first_id, i.comparison.second_id))
            for i in session.items.select_related("comparison")
            if i.comparison is not None
        ]
        assert len(held) == len(set(held))
        assert session.items.filter(trap__isnull=False).count() == 1
        assert session.items.filter(gold__isnull=False).count() == 2  # gold pairs


def test_the_sessions_tab_shows_the_problems_and_a_build_is_refused_plainly(
    client: Client, staff_user: User
) -> None:
    built = comparison_experiment("dcr", qualities=(4.0, 3.0))
    Track.objects.filter(pk=built.versions[1].track_id).update(reference="work/lost.wav")
    client.force_login(staff_user)
    slug = built.experiment.slug
    page = client.get(f"/experiments/{slug}/sessions/")
    assert page.status_code == 200
    assert "its reference work/lost.wav is missing" in page.content.decode()
    response = client.post(f"/experiments/{slug}/sessions/build/", follow=True)
    assert response.status_code == 200
    assert "its reference work/lost.wav is missing" in response.content.decode()
    assert not Session.objects.filter(experiment=built.experiment).exists()


def test_the_test_method_is_frozen_once_sessions_are_built() -> None:
    from crowdtest.corpus.services import CorpusError, experiment_update_settings

    built = comparison_experiment("ccr", qualities=(4.0, 3.0))
    experiment_update_settings(experiment=built.experiment, changes={"test_method": "dcr"})
    design_comparison(built)
    with pytest.raises(CorpusError, match=r"built for the current test method \(dcr\)"):
        experiment_update_settings(experiment=built.experiment, changes={"test_method": "acr"})
    assert built.experiment.config.test_method == "dcr"


def test_the_sessions_tab_describes_a_built_comparison_test(
    client: Client, staff_user: User
) -> None:
    built = comparison_experiment("pairwise", qualities=(4.0, 3.0, 2.0), votes=2)
    design_comparison(built)
    client.force_login(staff_user)
    page = client.get(f"/experiments/{built.experiment.slug}/sessions/").content.decode()
    assert "Test method: <strong>PAIRWISE</strong>" in page
    assert "pair clips" in page and "then work/v" in page
    assert 'id="comparison-problems"' not in page
