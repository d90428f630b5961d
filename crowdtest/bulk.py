"""Reads and writes of many rows at once, for screening at archive scale (a million votes,
fifty thousand sessions): PostgreSQL's COPY where the database is PostgreSQL, the ORM's
own bulk paths elsewhere (SQLite), with the same result.

`rows_insert` writes unsaved model instances (their primary keys stay unset) and
`values_insert` rows of plain values; `rows_sync` makes a set of rows match new ones,
writing only those that differ; `int_columns` reads integer columns of a queryset into
numpy arrays. Through the ORM,
building 50,000 INSERT rows or 1,000,000 result tuples costs seconds of Python; through
COPY the database does the work and numpy parses the text."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, router
from django.db.models.functions import Cast


def rows_insert(
    model: type[models.Model], objects: Sequence[models.Model], *, batch_size: int = 2000
) -> int:
    """Insert `objects` (unsaved instances of `model`); returns how many. Database
    defaults (the id sequence) fill what the instances leave unset."""
    if not objects:
        return 0
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects, batch_size=batch_size)
        return len(objects)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            for obj in objects:
                f.pre_save(obj, add=True)
    names = [f.attname for f in fields]
    return values_insert(model, names, ([getattr(obj, name) for name in names] for obj in objects))


def values_insert(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert `rows` of values for the fields named in `columns` (attnames, e.g.
    `assignment_id`) of `model`, without building model instances; every other field
    but the primary key gets its default, as the model would give it (a field added
    later does not break the writers). Returns how many rows."""
    connection = connections[router.db_for_write(model)]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    unknown = [name for name in columns if name not in by_attname]
    if unknown:
        raise ValueError(f"{model.__name__} has no field {', '.join(unknown)}")
    rest = [
        f for f in model._meta.concrete_fields if f.attname not in columns and not f.primary_key
    ]
    if rest:
        defaults = [f.get_default() for f in rest]
        columns = [*columns, *(f.attname for f in rest)]
        rows = ([*row, *defaults] for row in rows)
    fields = [by_attname[name] for name in columns]
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(columns, row))) for row in rows]
        model._default_manager.bulk_create(objects, batch_size=2000)
        return len(objects)
    # Plain values go to COPY as they are; only JSON needs the field's own adapter,
    # applied once per distinct object (rows often share one list or dict).
    adapted: dict[int, tuple[Any, Any]] = {}

    def as_json(value: Any, field: models.Field[Any, Any]) -> Any:
        known = adapted.get(id(value))
        if known is None or known[0] is not value:
            known = (value, field.get_db_prep_save(value, connection))
            adapted[id(value)] = known
        return known[1]

    prepare = [
        (lambda v, f=f: as_json(v, f)) if isinstance(f, models.JSONField) else None for f in fields
    ]
    quote = connection.ops.quote_name
    statement = (
        f"COPY {quote(model._meta.db_table)} "
        f"({', '.join(quote(str(f.column)) for f in fields)}) FROM STDIN"
    )
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([v if p is None else p(v) for v, p in zip(row, prepare)])
            count += 1
    return count


def rows_sync(
    model: type[models.Model],
    scope: models.QuerySet[Any],
    *,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    compare: Sequence[str],
) -> tuple[int, int]:
    """Make the rows of `scope` (a queryset of `model`) those of `rows` (values for
    `columns`, one row per distinct `key`), writing only what differs: a stored row whose
    `compare` columns differ from its new row, or that has no new row, is deleted; a new
    row that differs or was missing is inserted (`values_insert`). Floats compare equal
    within 1e-9 relative (a sum over rows read in another order may differ in its last
    bits). Returns (deleted, inserted). Screening an experiment again then writes only
    what changed since the last run, not every verdict."""
    at = {name: i for i, name in enumerate(columns)}
    k, picks = at[key], [at[name] for name in compare]
    fresh = {row[k]: tuple(row[i] for i in picks) for row in rows}
    stored = _stored(model, scope, key, compare)
    same = {
        pk
        for pk, values in stored.items()
        if pk in fresh and (values == fresh[pk] or _alike(values, fresh[pk]))
    }
    stale = [pk for pk in stored if pk not in same]
    # Rows nothing refers to, so each delete is one DELETE statement.
    if len(stale) == len(stored):
        deleted = scope.order_by().delete()[0] if stale else 0
    else:
        deleted = 0
        for start in range(0, len(stale), 10_000):
            chunk = stale[start : start + 10_000]
            deleted += scope.order_by().filter(**{f"{key}__in": chunk}).delete()[0]
    inserted = values_insert(model, columns, [row for row in rows if row[k] not in same])
    return deleted, inserted


def _stored(
    model: type[models.Model], scope: models.QuerySet[Any], key: str, compare: Sequence[str]
) -> dict[Any, tuple[Any, ...]]:
    """The stored rows of `scope`: key -> `compare` values. A JSON column is read as its
    text and each distinct text decoded once (verdicts share a few lists of reasons)."""
    json_columns = {
        name for name in compare if isinstance(model._meta.get_field(name), models.JSONField)
    }
    if not json_columns:
        return {row[0]: row[1:] for row in scope.order_by().values_list(key, *compare)}
    texts = {f"{name}_as_text": Cast(name, models.TextField()) for name in json_columns}
    fields = [f"{name}_as_text" if name in json_columns else name for name in compare]
    decoded: dict[str | None, Any] = {None: None}
    at = [i for i, name in enumerate(compare) if name in json_columns]
    stored = {}
    for pk, *values in scope.order_by().annotate(**texts).values_list(key, *fields):
        for i in at:
            text = values[i]
            if text not in decoded:
                decoded[text] = json.loads(text)
            values[i] = decoded[text]
        stored[pk] = tuple(values)
    return stored


def _alike(old: Sequence[Any], new: Sequence[Any]) -> bool:
    for a, b in zip(old, new):
        if isinstance(a, float) and isinstance(b, float):
            if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif a != b:
            return False
    return True


def int_columns(queryset: models.QuerySet[Any], *fields: str) -> tuple[npt.NDArray[np.int64], ...]:
    """The integer columns `fields` of `queryset`'s rows as int64 arrays, aligned row by
    row (in no particular order). A NULL is refused (ValueError): these reads are for
    keys and scores."""
    query = queryset.values_list(*fields)
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        rows = list(query)
        if any(v is None for row in rows for v in row):
            raise ValueError(f"NULL in {', '.join(fields)}")
        table = np.array(rows, dtype=np.int64).reshape(len(rows), len(fields))
        return tuple(table[:, i].copy() for i in range(len(fields)))
    try:
        sql, params = query.query.sql_with_params()
    except EmptyResultSet:  # a filter nothing can match, e.g. .none()
        return tuple(np.zeros(0, np.int64) for _ in fields)
    # One text value for the whole result: COPY would otherwise send (and psycopg
    # receive) one message per row.
    # A NULL is spelt out, so that it fails the parse below instead of dropping its row.
    row = " || ' ' || ".join(f"coalesce(q.c{i}::text, 'NULL')" for i in range(len(fields)))
    aliased = ", ".join(f"c{i}" for i in range(len(fields)))
    # Django's compiled SQL, its parameters kept apart, and generated aliases.
    statement = f"COPY (SELECT string_agg({row}, ' ') FROM ({sql}) AS q({aliased})) TO STDOUT"  # noqa: S608
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(statement, params) as copy,
    ):
        data = b"".join(bytes(block) for block in copy).strip()
    if data == b"\\N":
        data = b""  # no rows
    try:
        flat = np.fromstring(data, dtype=np.int64, sep=" ") if data else np.zeros(0, np.int64)
    except ValueError:
        flat = None
    if flat is None or (data and flat.size != data.count(b" ") + 1):
        raise ValueError(f"{', '.join(fields)} are not all integers (a NULL?)")
    table = flat.reshape(-1, len(fields))
    return tuple(table[:, i].copy() for i in range(len(fields)))
