"""Which tracks are versions of one work, and which track a processed version was made
from, as the Corpus tab sets them (the manifest's `work_id` and `reference` columns set
them at import)."""

from __future__ import annotations

import csv
from pathlib import PurePath

from django.db import transaction

from ..errors import CorpusError
from ..models import Experiment, Track
from ..signals import design_settings_lock_reason

MAX_LINES = 5000


def _named(name: str, tracks: dict[str, Track], work: str | None = None) -> Track | None:
    """A track by its name as imported, or by its file name when that is unique (among
    the tracks of `work`, when several share it)."""
    if name in tracks:
        return tracks[name]
    matches = _same_file_name(name, tracks)
    if len(matches) > 1 and work is not None:
        matches = [t for t in matches if t.work_id == work]
    return matches[0] if len(matches) == 1 else None


def _same_file_name(name: str, tracks: dict[str, Track]) -> list[Track]:
    return [t for n, t in tracks.items() if PurePath(n).name == PurePath(name).name]


def _shared(name: str, tracks: dict[str, Track]) -> str:
    """When several tracks share `name`'s file name: which, and what to give instead."""
    shared = sorted(t.original_name for t in _same_file_name(name, tracks))
    if len(shared) < 2:
        return ""
    listed = ", ".join(shared[:3]) + (", ..." if len(shared) > 3 else "")
    return f"matches {len(shared)} tracks ({listed}): give its path as imported"


def tracks_set_versions(*, experiment: Experiment, text: str) -> int:
    """Set `work_id` and `reference` of the tracks named in CSV lines
    `track,work_id,reference` (a header line of those names is skipped; an empty field
    clears it). All or nothing: refused with every unknown track named, before anything
    is written. Returns how many tracks changed. Refused once votes are collected on a
    design: its pairs were built from the versions as they are."""
    locked = design_settings_lock_reason(experiment=experiment)
    if locked:
        raise CorpusError(
            f"{locked}: its pairs were built from these versions; create a new experiment "
            "to change them."
        )
    lines = [row for row in csv.reader(text.strip().splitlines()) if any(c.strip() for c in row)]
    if lines and [c.strip().lower() for c in lines[0]][:1] == ["track"]:
        lines = lines[1:]
    if not lines:
        raise CorpusError("Give one line per track: track,work_id,reference.")
    if len(lines) > MAX_LINES:
        raise CorpusError(f"At most {MAX_LINES} lines at a time.")
    tracks = {t.original_name: t for t in experiment.tracks.all()}
    problems = []
    changes: list[tuple[Track, str, str]] = []
    for number, row in enumerate(lines, start=1):
        cells = [c.strip() for c in row] + ["", ""]
        track = _named(cells[0], tracks)
        if track is None:
            why = _shared(cells[0], tracks)
            named = f"{cells[0]!r} {why}" if why else f"no track named {cells[0]!r}"
            problems.append(f"line {number}: {named}")
            continue
        reference = cells[2]
        made_from = _named(reference, tracks, cells[1]) if reference else None
        if reference and made_from is None:
            why = _shared(reference, tracks) or "is no track"
            problems.append(f"line {number}: the reference {reference!r} {why}")
        elif made_from is not None and made_from.pk == track.pk:
            problems.append(f"line {number}: {cells[0]!r} can't be its own reference")
        changes.append((track, cells[1][:200], reference[:500]))
    if problems:
        raise CorpusError("Nothing was changed: " + "; ".join(problems[:20]) + ".")
    changed = []
    with transaction.atomic():
        for track, work_id, reference in changes:
            if (track.work_id, track.reference) != (work_id, reference):
                track.work_id, track.reference = work_id, reference
                changed.append(track)
        Track.objects.bulk_update(changed, ["work_id", "reference"])
    return len(changed)
