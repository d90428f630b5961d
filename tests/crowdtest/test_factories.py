"""The shared factories build consistent rows (one experiment throughout a vote)."""

import pytest

from tests.factories import TrapFactory, VoteFactory


@pytest.mark.django_db
def test_a_vote_hangs_together() -> None:
    vote = VoteFactory(score=2)
    assert vote.stimulus is not None
    assert vote.experiment == vote.assignment.experiment == vote.rater.experiment
    assert vote.stimulus.experiment == vote.experiment
    assert vote.assignment.session.experiment == vote.experiment
    name = vote.stimulus.delivery.name
    assert name is not None and name.endswith(".m4a")


@pytest.mark.django_db
def test_a_trap_comes_from_a_trap_source() -> None:
    trap = TrapFactory(answer=5)
    assert trap.source.role == "trap_source"
    assert trap.experiment == trap.source.experiment
