"""Many rows at once: COPY on PostgreSQL (as CI runs), the ORM on SQLite, same rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from django.utils import timezone

from crowdtest.bulk import int_columns, rows_insert, rows_sync, values_insert
from crowdtest.rating.models import Vote
from crowdtest.results.models import RaterVerdict, SessionVerdict
from tests.factories import AssignmentFactory, RaterFactory, VoteFactory

pytestmark = pytest.mark.django_db


def test_int_columns_read_the_rows_aligned() -> None:
    votes = [VoteFactory(score=s) for s in (1, 5, 3, 4)]
    ids, scores, raters = int_columns(Vote.objects.all(), "pk", "score", "rater_id")
    assert ids.dtype == np.int64
    got = sorted(zip(ids.tolist(), scores.tolist(), raters.tolist()))
    assert got == sorted((v.pk, v.score, v.rater_id) for v in votes)
    empty = int_columns(Vote.objects.none(), "pk", "score")
    assert [a.size for a in empty] == [0, 0]
    assert [a.size for a in int_columns(Vote.objects.filter(score=99), "pk")] == [0]


def test_int_columns_refuse_a_null() -> None:
    VoteFactory(score=2, hidden_s=None)
    with pytest.raises(ValueError, match=r"NULL|not all integers"):
        int_columns(Vote.objects.all(), "pk", "hidden_s")


def test_rows_insert_writes_what_bulk_create_would() -> None:
    rater = RaterFactory()
    now = timezone.now()
    written = rows_insert(
        RaterVerdict,
        [
            RaterVerdict(
                rater=rater,
                experiment=rater.experiment,
                valid=None,
                reasons=["low_rater_pcc"],
                pcc=0.125,
                answers=12,
                screened_at=now,
            )
        ],
    )
    assert written == 1 and rows_insert(RaterVerdict, []) == 0
    row = RaterVerdict.objects.get(rater=rater)
    assert (row.valid, row.reasons, row.pcc, row.answers, row.gold_answers) == (
        None,
        ["low_rater_pcc"],
        0.125,
        12,
        0,  # the field's default
    )
    assert row.screened_at == now and row.pk is not None


def test_values_insert_takes_plain_rows_with_json() -> None:
    assignment = AssignmentFactory()
    columns: tuple[str, ...] = ("assignment_id", "experiment_id", "rules_valid", "reasons", "rules")
    columns += ("ordinal", "rating_variance", "screened_at", "overridden", "valid")
    now = timezone.now()
    row: tuple[object, ...] = (
        assignment.pk,
        assignment.experiment_id,
        False,
        ["math_wrong"],
        {"a": [1, 2]},
    )
    row += (None, 0.5, now, False, False)
    assert values_insert(SessionVerdict, columns, [row]) == 1
    stored = SessionVerdict.objects.get(assignment=assignment)
    assert (stored.reasons, stored.rules, stored.ordinal) == (["math_wrong"], {"a": [1, 2]}, None)
    assert stored.rating_variance == 0.5 and stored.screened_at == now


def test_values_insert_fills_the_fields_left_out_with_their_defaults() -> None:
    rater = RaterFactory()
    columns = ("rater_id", "experiment_id", "valid", "pcc", "answers", "screened_at")
    now = timezone.now()
    assert (
        values_insert(RaterVerdict, columns, [(rater.pk, rater.experiment_id, True, 0.5, 11, now)])
        == 1
    )
    row = RaterVerdict.objects.get(rater=rater)
    assert (row.reasons, row.gold_answers, row.answers) == ([], 0, 11)
    with pytest.raises(ValueError, match="no field colour"):
        values_insert(RaterVerdict, ("colour",), [("red",)])


def test_rows_sync_writes_only_the_rows_that_differ() -> None:
    raters = [RaterFactory() for _ in range(4)]
    experiment_id = raters[0].experiment_id
    for rater in raters[1:]:
        rater.experiment_id = experiment_id
        rater.save(update_fields=["experiment"])
    columns = ("rater_id", "experiment_id", "valid", "reasons", "pcc", "screened_at")
    compare = ("valid", "reasons", "pcc")
    scope = RaterVerdict.objects.filter(experiment_id=experiment_id)
    first = timezone.now()
    rows = [
        (raters[0].pk, experiment_id, True, [], 0.1 + 0.2, first),
        (raters[1].pk, experiment_id, False, ["low_rater_pcc"], 0.05, first),
        (raters[2].pk, experiment_id, None, ["too_few_answers"], None, first),
    ]

    def sync(rows: Sequence[tuple[object, ...]]) -> tuple[int, int]:
        return rows_sync(
            RaterVerdict, scope, key="rater_id", columns=columns, rows=rows, compare=compare
        )

    assert sync(rows) == (0, 3)
    # The same rows again (a float summed in another order, the same JSON list): nothing written.
    later = timezone.now()
    again = [(r[0], r[1], r[2], list(r[3]), r[4], later) for r in rows]
    again[0] = (*again[0][:4], 0.3, later)
    assert sync(again) == (0, 0)
    assert scope.get(rater=raters[0]).screened_at == first
    # One verdict changes, one is gone, one is new: three rows written, one kept as it was.
    changed = [
        (raters[0].pk, experiment_id, True, [], 0.3, later),
        (raters[1].pk, experiment_id, False, ["low_rater_pcc", "gold"], 0.05, later),
        (raters[3].pk, experiment_id, True, [], 0.9, later),
    ]
    assert sync(changed) == (2, 2)
    stored = {v.rater_id: (v.valid, v.reasons, v.pcc, v.screened_at) for v in scope}
    assert stored == {
        raters[0].pk: (True, [], 0.1 + 0.2, first),
        raters[1].pk: (False, ["low_rater_pcc", "gold"], 0.05, later),
        raters[3].pk: (True, [], 0.9, later),
    }
