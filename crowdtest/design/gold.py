"""Writes of gold stimuli: stimuli of known quality that every rating session may hold
(the P.808 toolkit's gold clips, optional and off by default).

An experimenter marks them from a CSV with a `file` column (a track's file name as
imported, or `track_id`) and a `score` column (1..5, or an ACR label). Each row is checked
on its own and a bad row is reported with its line, while the good rows are marked. The
marks take effect at the next build of the sessions."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from crowdtest.corpus.models import Experiment, Stimulus, Track

from .models import ACR_LABELS, GoldStimulus

SCORES_BY_LABEL = {label: score for score, label in ACR_LABELS.items()}
MAX_ROWS = 10_000
TOO_MANY_FIELDS = "__too_many_fields"


class GoldError(Exception):
    """A gold file that can't be read at all; the message says why."""


@dataclass
class GoldReport:
    marked: int = 0
    unchanged: int = 0
    cleared: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.marked} gold stimuli marked", f"{self.unchanged} unchanged"]
        if self.cleared:
            parts.append(f"{self.cleared} marks cleared")
        if self.errors:
            parts.append(f"{len(self.errors)} rows refused")
        return ", ".join(parts)


def gold_rows_read(path: Path) -> list[dict[str, str]]:
    """The rows of a gold CSV as dicts with lower-case keys; a file without the needed
    columns, not UTF-8 or not a CSV is refused whole."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = {(name or "").strip().lower() for name in reader.fieldnames or []}
            if "score" not in header or not header & {"file", "track_id"}:
                raise GoldError(
                    f"{path} needs a 'score' column and a 'file' or 'track_id' column; "
                    f"it has: {', '.join(sorted(header)) or 'no header'}."
                )
            rows: list[dict[str, str]] = []
            for row in reader:
                if len(rows) >= MAX_ROWS:
                    raise GoldError(f"{path} has more than {MAX_ROWS} rows.")
                extra = row.pop(None, None)
                clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                if extra:
                    clean[TOO_MANY_FIELDS] = "yes"
                rows.append(clean)
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GoldError(f"{path} can't be read as a UTF-8 CSV: {exc}") from exc


def gold_mark(
    *, experiment: Experiment, rows: Iterable[Mapping[str, str]], replace: bool = False
) -> GoldReport:
    """Mark the rows' stimuli as gold with their known score. `replace` clears every
    other mark first, and changes nothing unless every row is usable. Rows are numbered
    from 2 (the header is line 1)."""
    report = GoldReport()
    wanted: dict[int, int] = {}
    for line, row in enumerate(rows, start=2):
        try:
            if row.get(TOO_MANY_FIELDS):
                raise GoldError(
                    "The row has more fields than the header (a comma in a file name needs "
                    'the name in "quotes").'
                )
            stimulus = _stimulus(experiment, row)
            score = _score(row.get("score", ""))
        except GoldError as exc:
            report.errors.append((line, str(exc)))
            continue
        if stimulus.pk in wanted and wanted[stimulus.pk] != score:
            report.errors.append((line, f"{_name(stimulus)} is given two different scores."))
            continue
        wanted[stimulus.pk] = score
    if replace and report.errors:
        return report  # replacing with a file that has bad rows would drop good marks
    with transaction.atomic():
        Experiment.objects.select_for_update().get(pk=experiment.pk)
        if replace:
            stale = GoldStimulus.objects.filter(experiment=experiment).exclude(
                stimulus_id__in=wanted
            )
            report.cleared = stale.count()
            stale.delete()
        current = dict(
            GoldStimulus.objects.filter(experiment=experiment).values_list("stimulus_id", "score")
        )
        for stimulus_id, score in wanted.items():
            if current.get(stimulus_id) == score:
                report.unchanged += 1
                continue
            GoldStimulus.objects.update_or_create(
                stimulus_id=stimulus_id, defaults={"experiment": experiment, "score": score}
            )
            report.marked += 1
    return report


def gold_clear(*, experiment: Experiment) -> int:
    """Remove every gold mark of the experiment (from the next build on)."""
    deleted, _ = GoldStimulus.objects.filter(experiment=experiment).delete()
    return deleted


def _stimulus(experiment: Experiment, row: Mapping[str, str]) -> Stimulus:
    tracks = Track.objects.filter(experiment=experiment)
    track_id, name = row.get("track_id", ""), row.get("file", "")
    if track_id:
        if not track_id.isdigit():
            raise GoldError(f"track_id '{track_id[:40]}' is not a number.")
        matches = list(tracks.filter(pk=int(track_id)))
    elif name:
        matches = list(tracks.filter(original_name=name))
    else:
        raise GoldError("The row names no file or track_id.")
    label = f"track {track_id}" if track_id else f"'{name[:200]}'"
    if not matches:
        raise GoldError(f"No track {label} in this experiment.")
    if len(matches) > 1:
        raise GoldError(f"{len(matches)} tracks are named {label}: use the track_id column.")
    stimulus = Stimulus.objects.filter(track=matches[0]).first()
    if stimulus is None or stimulus.status != Stimulus.Status.READY or not stimulus.master:
        raise GoldError(f"{label} has no prepared stimulus: run prepare_stimuli first.")
    if stimulus.role == Stimulus.Role.RATED:
        raise GoldError(
            f"{label} is among the stimuli to rate: a gold stimulus must be one that is not "
            "rated, or raters would hear it twice."
        )
    return stimulus


def _score(raw: str) -> int:
    value = raw.strip().lower()
    if value in SCORES_BY_LABEL:
        return SCORES_BY_LABEL[value]
    if value.isdigit() and 1 <= int(value) <= 5:
        return int(value)
    raise GoldError(f"score '{raw[:40]}' is not 1..5 or an ACR label (bad .. excellent).")


def _name(stimulus: Stimulus) -> str:
    return f"'{stimulus.track.original_name}'"
