"""One estimate of a session's duration, said alike on the consent page and the Platform
tab: from the design until sessions are timed, then the median of the real ones (sessions
too short to have been listened to, as a simulated crowd's, do not count)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Design
from crowdtest.platforms import selectors as platform_selectors
from crowdtest.rating.identity import link_token
from crowdtest.rating.models import Assignment
from crowdtest.rating.selectors import (
    SECONDS_PER_CLIP,
    SETUP_SECONDS,
    session_minutes,
    session_minutes_forget,
)

from .designs import RaterClient, make_design, take_session

pytestmark = pytest.mark.django_db


def consent_page(client: Client, experiment: Experiment) -> str:
    url = reverse("rating:take", args=[experiment.slug])
    return client.get(url, {"t": link_token(experiment.pk, "reader")}).content.decode()


def test_from_the_design_then_from_real_sessions(client: Client) -> None:
    built = make_design(n_clusters=3, per_cluster=2, training=3, traps_per_session=1)
    experiment = built.experiment
    cfg = experiment.config
    clips = 3 * 2 + 1 + 3  # rating stimuli, the trap, training
    designed = math.ceil((clips * (cfg.excerpt_seconds + SECONDS_PER_CLIP) + SETUP_SECONDS) / 60)
    assert session_minutes(experiment=experiment) == designed
    assert platform_selectors.session_minutes(experiment) == designed
    assert f"{designed} minutes" in consent_page(client, experiment)

    for n in range(5):
        assert take_session(RaterClient(client, experiment, f"timed-{n}"))["stage"] == "finished"
    # Taken here in no time, as a simulated crowd would: not a real duration.
    assert session_minutes(experiment=experiment) == designed
    for n, assignment in enumerate(Assignment.objects.order_by("pk")):
        assert assignment.finished_at is not None
        Assignment.objects.filter(pk=assignment.pk).update(
            started_at=assignment.finished_at - timedelta(minutes=6 + n, seconds=30)
        )
    assert session_minutes(experiment=experiment) == 9  # median 8 min 30 s, rounded up
    assert platform_selectors.session_minutes(experiment) == 9
    # The consent page's copy is a minute old at most (see the next test); dropped here.
    session_minutes_forget(experiment_id=experiment.pk)
    assert "9 minutes" in consent_page(client, experiment)


def test_the_consent_page_counts_the_sessions_clips_once_a_minute(client: Client) -> None:
    """Every link opened shows the estimate; a crowd opens ten a second, and counting the
    sessions' clips costs tens of ms on a large experiment: each process keeps it a
    minute. A new design drops it at once."""
    built = make_design(n_clusters=3, per_cluster=2, training=3, traps_per_session=1)
    experiment = built.experiment

    def counts_clips() -> bool:
        with CaptureQueriesContext(connection) as queries:
            page = consent_page(client, experiment)
        assert "minutes" in page
        return any("COUNT" in q["sql"] and "sessionitem" in q["sql"] for q in queries)

    assert counts_clips()
    assert not counts_clips()  # the estimate of a moment ago
    Design.objects.get(experiment=experiment).save()  # a design built anew
    assert counts_clips()
