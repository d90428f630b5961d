"""How many SQL queries each rater request costs, pinned: these endpoints run for every
clip of every rater, so a query more is a query more per answer of a crowd. A change that
adds one must change the pin here, on purpose. The counts do not grow with the session."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from crowdtest.rating import statements
from crowdtest.rating.models import AssignmentItem
from tests.conftest import require_service

from .designs import RaterClient, make_design, to_rating

pytestmark = pytest.mark.django_db


def answer(clip: dict[str, Any]) -> dict[str, Any]:
    """The body rating `clip` (a trap gets the score it asks for), looked up beforehand."""
    item = AssignmentItem.objects.select_related("trap").get(clip_key=clip["clip"])
    return {"clip": clip["clip"], "score": item.trap.answer if item.trap is not None else 3}


def rate(rc: RaterClient, clip: dict[str, Any], body: dict[str, Any] | None = None) -> Any:
    response = rc.post("rate", body or answer(clip))
    assert response.status_code == 200, response.content
    return response


T = TypeVar("T")


def counted(call: Callable[[], T]) -> tuple[int, T]:
    with CaptureQueriesContext(connection) as queries:
        result = call()
    return len(queries), result


def costs(client: Client, per_cluster: int) -> dict[str, int]:
    built = make_design(per_cluster=per_cluster)
    rc = RaterClient(client, built.experiment, f"counted-{per_cluster}")
    state = to_rating(rc)
    clips = state["clips"]
    found: dict[str, int] = {}
    found["state"], _ = counted(rc.state)
    first = clips[0]
    found["clip"], response = counted(lambda: rc.fetch_clip(first["clip"]))
    assert response.status_code == 200
    found["play"], response = counted(lambda: rc.post("play", {"clip": first["clip"]}, fetch=False))
    assert response.status_code == 200, response.content
    body = answer(first)
    found["rate"], _ = counted(lambda: rate(rc, first, body))
    found["rate again"], _ = counted(lambda: rate(rc, first, body))  # a resent answer
    for clip in clips[1:]:
        rc.post("play", {"clip": clip["clip"]})
        rate(rc, clip)
    found["finish"], response = counted(lambda: rc.post("finish"))
    assert response.json()["stage"] == "finished"
    return found


# Inside the test's transaction a request's own transaction is a savepoint: its SAVEPOINT
# and RELEASE are counted (in production they are BEGIN and COMMIT). The token's experiment
# is the process's recent copy (corpus.selectors.experiment_recent): read once every few
# seconds per process, not once per call, so these steady-state counts leave it out.
PINNED = {
    # the assignment, then the clips' rated flags and the progress
    "state": 3,
    # the key's item (with its assignment and the file), requested-at before the bytes go
    # out, then the whole file sent (one UPDATE each; behind nginx the two are one)
    "clip": 3,
    # locked: the rater's assignment, then the step's clips with their scores; the clip's
    # play counted (the assignment's last-seen is written only when 30 s behind, not here)
    "play": 5,
    # as play, then the vote
    "rate": 5,
    # a resend finds the saved score and returns the saved vote
    "rate again": 5,
    # completes the assignment and the session (the rater read for the receivers), then the
    # state with the next session's offer; screening is queued for a worker after the
    # commit, not run here
    "finish": 15,
}


def test_rater_requests_cost_a_fixed_number_of_queries(client: Client) -> None:
    small, large = costs(client, per_cluster=1), costs(client, per_cluster=3)
    assert small == large, f"queries grow with the session: {small} vs {large}"
    assert small == PINNED


def test_the_hot_statements_are_prepared_on_postgresql(client: Client) -> None:
    """On PostgreSQL each connection plans the rater's hot statements once: they are in
    the session's prepared statements after a rater's calls, and nothing of Django's is
    (its cursors bind on the client). The counts above see them all the same."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    costs(client, per_cluster=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        # psycopg sends $1, $2...; the statements are written with %s
        prepared = {re.sub(r"\$\d+", "%s", row[0]) for row in cursor.fetchall()}
    ours = {
        statements.current_assignment(extra, lock)
        for extra in ("", statements.ACTIVE, statements.BY_PLATFORM_ID)
        for lock in (False, True)
    }
    ours |= {statements.step_items(), statements.clip_item()}
    assert prepared <= ours, prepared - ours
    assert {statements.step_items(), statements.clip_item()} <= prepared
    assert prepared & {statements.current_assignment("", lock) for lock in (False, True)}
