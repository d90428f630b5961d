"""The statements of the rater's hot path, written once per process from the models' own
table and column names.

Every rater call (state, play, rate, each clip's audio) runs these; building them with the
ORM anew on every call cost more CPU than the rest of the call together, and a crowd of a
thousand raters makes hundreds of calls a second. Only names from the models are put in
the text; every value is a query parameter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model

from crowdtest.corpus.models import Stimulus
from crowdtest.design.models import Comparison, GoldClip, Trap

from .models import Assignment, AssignmentItem, Rater, Vote


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return f'"{field.column}"'


Converter = Callable[[Any, Any, Any], Any]


def cursor() -> CursorWrapper:
    """A cursor for the statements of this module: one that prepares them where the
    database backend offers it (crowdtest.postgresql), Django's otherwise."""
    prepared: Callable[[], CursorWrapper] | None = getattr(connection, "prepared_cursor", None)
    return prepared() if prepared is not None else connection.cursor()


@functools.cache
def _converters(
    model: type[Model], names: tuple[str, ...], vendor: str
) -> list[tuple[Any, list[Converter]]]:
    """Per field of the model's `names`: its column expression and what turns the driver's
    value into the field's Python value, as the ORM's compiler finds them (a datetime from
    SQLite's text, a JSON field's value from its text), found once per process."""
    found = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)
        column = field.get_col(model._meta.db_table)
        steps = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        found.append((column, steps))
    return found


def converted(model: type[Model], names: tuple[str, ...], row: Sequence[Any]) -> list[Any]:
    """A row of the model's fields `names` read with a plain cursor, as the fields' Python
    values."""
    values = list(row)
    for i, (column, steps) in enumerate(_converters(model, names, connection.vendor)):
        for convert in steps:
            values[i] = convert(values[i], column, connection)
    return values


# Every stored field of an assignment, in the model's order (`Model.from_db` takes them so).
ASSIGNMENT_FIELDS = tuple(f.name for f in Assignment._meta.concrete_fields)
ASSIGNMENT_ATTNAMES = tuple(f.attname for f in Assignment._meta.concrete_fields)


@functools.cache
def current_assignment(extra: str, lock: bool) -> str:
    """The statement behind selectors.current_assignment; `extra` is one of the fixed
    conditions below."""
    a = {name: _column(Assignment, name) for name in ("rater", "started_at", "id")}
    r = {name: _column(Rater, name) for name in ("id", "experiment", "platform", "external_id")}
    fields = ", ".join(f"a.{_column(Assignment, name)}" for name in ASSIGNMENT_FIELDS)
    return (
        f"SELECT {fields} "  # noqa: S608
        f'FROM "{Assignment._meta.db_table}" a '
        f'JOIN "{Rater._meta.db_table}" r ON r.{r["id"]} = a.{a["rater"]} '
        f"WHERE r.{r['experiment']} = %s AND r.{r['platform']} = %s "
        f"AND r.{r['external_id']} = %s {extra}"
        f"ORDER BY a.{a['started_at']} DESC, a.{a['id']} DESC LIMIT 1"
        + (" FOR UPDATE OF a" if lock else "")
    )


BY_PLATFORM_ID = f"AND a.{_column(Assignment, 'platform_assignment_id')} = %s "
ACTIVE = f"AND a.{_column(Assignment, 'status')} = %s "


STEP_FIELDS = (
    "id",
    "phase",
    "position",
    "clip_key",
    "duration_s",
    "stimulus",
    "trap",
    "gold",
    "comparison",
    "play_started_at",
    "plays",
    "audio_requested_at",
    "audio_sent_at",
)


@functools.cache
def step_items() -> str:
    """The statement behind selectors.step_items."""
    i = {name: _column(AssignmentItem, name) for name in (*STEP_FIELDS, "assignment")}
    v = {name: _column(Vote, name) for name in ("item", "score")}
    return (
        f"SELECT {', '.join('i.' + i[name] for name in STEP_FIELDS)}, "  # noqa: S608
        f"v.{v['score']} AS saved_score "
        f'FROM "{AssignmentItem._meta.db_table}" i '
        f'LEFT JOIN "{Vote._meta.db_table}" v ON v.{v["item"]} = i.{i["id"]} '
        f"WHERE i.{i['assignment']} = %s AND (i.{i['phase']} = %s OR i.{i['clip_key']} = %s) "
        f"ORDER BY i.{i['phase']}, i.{i['position']}"
    )


@functools.cache
def clip_item() -> str:
    """The clip behind a rated clip's key: its item, its experiment and the delivery file
    of its stimulus, trap, gold clip or comparison."""
    i = {
        name: _column(AssignmentItem, name)
        for name in ("id", "assignment", "stimulus", "trap", "gold", "comparison")
    }
    key = _column(AssignmentItem, "clip_key")
    a = {name: _column(Assignment, name) for name in ("id", "experiment")}
    delivery = (
        _column(Stimulus, "delivery"),
        _column(Trap, "delivery"),
        _column(GoldClip, "delivery"),
        _column(Comparison, "delivery"),
    )
    ids = (
        _column(Stimulus, "id"),
        _column(Trap, "id"),
        _column(GoldClip, "id"),
        _column(Comparison, "id"),
    )
    return (
        f"SELECT i.{i['id']}, a.{a['experiment']}, s.{delivery[0]}, t.{delivery[1]}, "  # noqa: S608
        f"g.{delivery[2]}, c.{delivery[3]} "
        f'FROM "{AssignmentItem._meta.db_table}" i '
        f'JOIN "{Assignment._meta.db_table}" a ON a.{a["id"]} = i.{i["assignment"]} '
        f'LEFT JOIN "{Stimulus._meta.db_table}" s ON s.{ids[0]} = i.{i["stimulus"]} '
        f'LEFT JOIN "{Trap._meta.db_table}" t ON t.{ids[1]} = i.{i["trap"]} '
        f'LEFT JOIN "{GoldClip._meta.db_table}" g ON g.{ids[2]} = i.{i["gold"]} '
        f'LEFT JOIN "{Comparison._meta.db_table}" c ON c.{ids[3]} = i.{i["comparison"]} '
        f"WHERE i.{key} = %s"
    )
