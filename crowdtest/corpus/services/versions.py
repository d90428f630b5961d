"""Which tracks are versions of one work, and which track a processed version was made
from, as the Corpus tab sets them (the manifest's `work_id` and `reference` columns set
them at import)."""

from __future__ import annotations

import csv
from pathlib import PurePath

from django.db import transaction

from ..errors import CorpusError
from ..models import Experiment, Track

MAX_LINES = 5000


def _named(name: str, tracks: dict[str, Track]) -> Track | None:
    """A track by its name as imported, or by its file name when that is unique."""
    if name in tracks:
        return tracks[name]
    matches = [t for n, t in tracks.items() if PurePath(n).name == PurePath(name).name]
    return matches[0] if len(matches) == 1 else None


def tracks_set_versions(*, experiment: Experiment, text: str) -> int:
    """Set `work_id` and `reference` of the tracks named in CSV lines
    `track,work_id,reference` (a header line of those names is skipped; an empty field
    clears it). All or nothing: refused with every unknown track named, before anything
    is written. Returns how many tracks changed."""
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
            problems.append(f"line {number}: no track named {cells[0]!r}")
            continue
        reference = cells[2]
        if reference and _named(reference, tracks) is None:
            problems.append(f"line {number}: the reference {reference!r} is no track")
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
