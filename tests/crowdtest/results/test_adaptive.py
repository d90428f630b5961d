"""Adaptive collection: stimuli whose CI reached the target are no longer given out, open
sessions holding only such stimuli are retired, and the savings are counted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Session, SessionItem
from crowdtest.results.dashboard import overview
from crowdtest.results.models import RetiredSession
from crowdtest.results.selectors import saturated_stimulus_ids
from crowdtest.results.services import adaptive_retire, results_refresh
from tests.factories import SessionFactory, SessionItemFactory, TrapFactory

from .builders import bulk_stimuli, bulk_votes, set_config

# 12 valid votes 3,4,3,4,... : s = 0.522, t(0.975, 11) = 2.201 -> full width 0.663.
# 12 valid votes 1,5,1,5,... : s = 2.089 -> full width 2.654.
AGREED, SPLIT = (3, 4), (1, 5)


@pytest.fixture
def voted(experiment: Experiment) -> dict[str, int]:
    """Two stimuli with 12 valid votes each, one agreed on and one not, and one unrated."""
    agreed, split, unrated = bulk_stimuli(experiment, 3)
    bulk_votes(
        experiment,
        [[(agreed.pk, AGREED[i % 2]), (split.pk, SPLIT[i % 2])] for i in range(12)],
        valid=True,
    )
    return {"agreed": agreed.pk, "split": split.pk, "unrated": unrated.pk}


def _open_session(experiment: Experiment, *stimulus_ids: int, trap: bool = False) -> Session:
    session = SessionFactory(experiment=experiment, status=Session.Status.OPEN)
    for position, stimulus_id in enumerate(stimulus_ids):
        SessionItemFactory(
            session=session, position=position, stimulus=Stimulus.objects.get(pk=stimulus_id)
        )
    if trap:
        SessionItemFactory(
            session=session,
            position=len(stimulus_ids),
            stimulus=None,
            trap=TrapFactory(source__track__experiment=experiment),
        )
    return session


@pytest.mark.parametrize(
    ("target", "min_votes", "cap", "expected"),
    [
        pytest.param(None, 10, None, set(), id="off"),
        pytest.param(0.7, 10, None, {"agreed"}, id="narrow-enough"),
        pytest.param(0.6, 10, None, set(), id="target-not-reached"),
        pytest.param(0.7, 13, None, set(), id="too-few-votes"),
        pytest.param(3.0, 12, None, {"agreed", "split"}, id="wide-target"),
        pytest.param(0.7, 10, 12, {"agreed", "split"}, id="at-the-cap"),
        pytest.param(0.7, 10, 13, {"agreed"}, id="below-the-cap"),
        pytest.param(None, 10, 12, set(), id="cap-without-target"),
    ],
)
def test_saturated_stimuli(
    experiment: Experiment,
    voted: dict[str, int],
    target: float | None,
    min_votes: int,
    cap: int | None,
    expected: set[str],
) -> None:
    set_config(
        experiment, target_ci_width=target, adaptive_min_votes=min_votes, adaptive_max_votes=cap
    )
    assert saturated_stimulus_ids(experiment=experiment) == {voted[k] for k in expected}


def test_open_sessions_of_saturated_stimuli_only_are_retired(
    experiment: Experiment, voted: dict[str, int]
) -> None:
    set_config(experiment, target_ci_width=0.7, adaptive_min_votes=10, reward_usd="0.50")
    done = _open_session(experiment, voted["agreed"], voted["agreed"], trap=True)
    mixed = _open_session(experiment, voted["agreed"], voted["split"])
    taken = _open_session(experiment, voted["agreed"])
    Session.objects.filter(pk=taken.pk).update(status=Session.Status.ACTIVE)
    report = adaptive_retire(experiment=experiment)
    assert (report.sessions, report.votes_saved, report.usd_saved) == (1, 2, Decimal("0.50"))
    statuses = dict(Session.objects.values_list("pk", "status"))
    assert statuses[done.pk] == "retired"
    assert statuses[mixed.pk] == "open" and statuses[taken.pk] == "active"
    retired = RetiredSession.objects.get()
    assert (retired.session_id, retired.stimuli, retired.reward_usd) == (
        done.pk,
        2,
        Decimal("0.50"),
    )
    # Again: nothing more to retire, nothing counted twice.
    assert adaptive_retire(experiment=experiment).sessions == 0
    figures = overview(experiment=experiment)
    assert (figures.retired_votes_saved, figures.retired_usd_saved) == (2, Decimal("0.50"))
    assert figures.sessions_retired == 1


def test_without_a_target_nothing_is_retired(experiment: Experiment, voted: dict[str, int]) -> None:
    _open_session(experiment, voted["agreed"])
    report = results_refresh(experiment=experiment)
    assert report.retirement is None
    assert adaptive_retire(experiment=experiment).sessions == 0
    assert not Session.objects.filter(status=Session.Status.RETIRED).exists()


def test_compute_mos_retires_and_the_dashboard_shows_the_savings(
    staff_client: Client, experiment: Experiment
) -> None:
    set_config(experiment, target_ci_width=0.7, adaptive_min_votes=10, reward_usd="0.50")
    [agreed] = bulk_stimuli(experiment, 1)
    bulk_votes(experiment, [[(agreed.pk, 3), (agreed.pk, 4)] for _ in range(12)])
    _open_session(experiment, agreed.pk)
    _open_session(experiment, agreed.pk)
    report = results_refresh(experiment=experiment)  # screens first: votes were unscreened
    assert report.retirement is not None and report.retirement.sessions == 2
    page = staff_client.get(reverse("results:dashboard", args=["vinyl"])).content.decode()
    assert 'data-live="saturated">1<' in page
    assert 'data-live="retired_votes_saved">2<' in page
    assert 'data-live="retired_usd_saved">1.00<' in page


def _start_all(experiment: Experiment, prefix: str) -> list[tuple[set[int], list[Any]]]:
    """Start every rating session with a new rater: (the planned session's stimuli, the
    rating items given) for each."""
    from crowdtest.rating.assigning import assignment_start
    from crowdtest.rating.identity import RaterIdentity
    from crowdtest.rating.models import AssignmentItem

    started = []
    open_sessions = Session.objects.filter(experiment=experiment, kind="rating", status="open")
    for n in range(open_sessions.count()):
        identity = RaterIdentity(experiment.pk, "link", f"{prefix}-{n}")
        assignment = assignment_start(experiment=experiment, identity=identity)
        planned = set(
            SessionItem.objects.filter(
                session=assignment.session, stimulus__isnull=False
            ).values_list("stimulus_id", flat=True)
        )
        items = list(
            assignment.items.filter(phase=AssignmentItem.Phase.RATING).order_by("position")
        )
        assert [i.position for i in items] == list(range(len(items)))
        assert items[0].stimulus_id is not None  # still starts with a clip to rate
        started.append((planned, items))
    return started


def test_a_saturated_stimulus_is_swapped_for_the_neediest_of_its_cluster(db: None) -> None:
    from tests.crowdtest.rating.designs import make_design

    built = make_design(settings={"target_ci_width": 0.7, "adaptive_min_votes": 10})
    experiment = built.experiment
    cluster: dict[int, int] = {}
    for s in built.rated:
        assert s.cluster is not None  # the design clustered every rated stimulus
        cluster[s.pk] = s.cluster
    done = built.rated[0].pk
    mates = [pk for pk, c in cluster.items() if c == cluster[done] and pk != done]
    # One mate has enough votes but a wide CI; the others have none yet and come first.
    wide = mates[0]
    bulk_votes(
        experiment,
        [[(done, AGREED[i % 2]), (wide, SPLIT[i % 2])] for i in range(12)],
        valid=True,
    )
    assert saturated_stimulus_ids(experiment=experiment) == {done}
    swaps = []
    for planned, items in _start_all(experiment, "swap"):
        given = [i.stimulus_id for i in items if i.stimulus_id is not None]
        assert len(given) == len(set(given)) == len(planned)  # nothing left out or repeated
        assert sorted(cluster[pk] for pk in given) == sorted(cluster[pk] for pk in planned)
        assert done not in given
        if done in planned:
            [swap] = set(given) - planned
            assert cluster[swap] == cluster[done]
            swaps.append(swap)
        else:
            assert set(given) == planned
    assert len(swaps) == 3  # the design put it in 3 sessions
    # Those with no votes are given first, the least given (in sessions being taken) first.
    unvoted = set(mates) - {wide}
    assert set(swaps) == unvoted
    assert overview(experiment=experiment).skipped_votes_saved == 0


def test_a_saturated_stimulus_is_left_out_when_its_cluster_has_none_to_give(db: None) -> None:
    built = _design_with_a_saturated_cluster()
    experiment, full = built
    skipped = 0
    for planned, items in _start_all(experiment, "left-out"):
        given = {i.stimulus_id for i in items if i.stimulus_id is not None}
        assert given <= planned
        # Sessions of 6 stimuli keep at least 5: one saturated stimulus may be left out.
        assert given == planned - full or (len(given) == 5 and len(planned & full) == 2)
        skipped += len(planned) - len(given)
    assert skipped > 0
    assert overview(experiment=experiment).skipped_votes_saved == 0  # none completed yet
    experiment.assignments.update(status="completed")
    assert overview(experiment=experiment).skipped_votes_saved == skipped


def _design_with_a_saturated_cluster() -> tuple[Experiment, set[int]]:
    from tests.crowdtest.rating.designs import make_design

    built = make_design(settings={"target_ci_width": 0.7, "adaptive_min_votes": 10})
    first = built.rated[0].cluster
    full = {s.pk for s in built.rated if s.cluster == first}
    bulk_votes(
        built.experiment, [[(pk, AGREED[i % 2]) for pk in full] for i in range(12)], valid=True
    )
    assert saturated_stimulus_ids(experiment=built.experiment) == full
    return built.experiment, full


def test_open_sessions_are_retired_only_when_nothing_can_be_swapped_in(db: None) -> None:
    experiment, full = _design_with_a_saturated_cluster()
    # Other clusters still need votes: sessions can take them in, none is retired.
    assert adaptive_retire(experiment=experiment).sessions == 0
    rest = set(
        experiment.stimuli.filter(role="rated").exclude(pk__in=full).values_list("pk", flat=True)
    )
    bulk_votes(experiment, [[(pk, AGREED[i % 2]) for pk in rest] for i in range(12)], valid=True)
    open_sessions = Session.objects.filter(
        experiment=experiment, kind="rating", status=Session.Status.OPEN
    ).count()
    assert adaptive_retire(experiment=experiment).sessions == open_sessions > 0


def test_a_session_is_never_cut_below_the_minimum_of_stimuli(db: None) -> None:
    """Sessions of 3 stimuli keep all of them: one or two votes would fail the variance
    rule and reject an honest rater."""
    from crowdtest.rating.assigning import assignment_start
    from crowdtest.rating.identity import RaterIdentity
    from tests.crowdtest.rating.designs import make_design

    built = make_design(per_cluster=1, settings={"target_ci_width": 0.7, "adaptive_min_votes": 10})
    experiment = built.experiment
    bulk_votes(experiment, [[(built.rated[0].pk, AGREED[i % 2])] for i in range(12)], valid=True)
    for n in range(3):
        identity = RaterIdentity(experiment.pk, "link", f"short-{n}")
        assignment = assignment_start(experiment=experiment, identity=identity)
        assert assignment.saturated_skipped == 0
        assert assignment.items.filter(phase="rating", stimulus__isnull=False).count() == 3
