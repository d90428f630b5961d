"""A session is screened as soon as its rater finishes it, through the real API."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks

from crowdtest.rating.models import Vote
from crowdtest.results.models import SessionVerdict
from tests.crowdtest.rating.designs import RaterClient, assignment_of, make_design, take_session

pytestmark = pytest.mark.django_db


def test_finishing_a_session_screens_it(
    client: Client, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    built = make_design()
    rc = RaterClient(client, built.experiment)

    with django_capture_on_commit_callbacks(execute=True):
        take_session(rc, score=4)

    assignment = assignment_of(rc)
    verdict = SessionVerdict.objects.get(assignment=assignment)
    # every rated score is 4: the session's variance is 0, below the paper's 0.1
    assert not verdict.valid
    assert "low_variance" in verdict.reasons
    assert not Vote.objects.filter(assignment=assignment, valid=True).exists()
    assert Vote.objects.filter(assignment=assignment, valid=False).exists()
