"""Many rows at once: COPY on PostgreSQL (as CI runs), the ORM on SQLite, same rows."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from crowdtest.bulk import int_columns, rows_insert, values_insert
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
    columns = ("assignment_id", "experiment_id", "rules_valid", "reasons", "rules")
    columns += ("ordinal", "rating_variance", "screened_at", "overridden", "valid")
    now = timezone.now()
    row = (assignment.pk, assignment.experiment_id, False, ["math_wrong"], {"a": [1, 2]})
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
