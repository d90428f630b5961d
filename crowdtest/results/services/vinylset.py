"""Labels from a Vinylset CSV (`filename, label, c, mosgroup, CI, std[, ...]`) as an
experiment's imported MOS rows.

Each row is matched to a track of the experiment: by file name exactly (what the export
writes, so an export imports back onto its own tracks), else by the Vinylset track name
(`0a/0204StellaByStarlight_sample_aache320_ln_C0.wav` -> `0204StellaByStarlight`)
against the stem of a track's file name. A row that matches nothing gets a placeholder:
a track named by the row's filename with no audio (its import error says so, so it is
never prepared) and a failed stimulus carrying the row's cluster. Importing the same
file again updates the rows; nothing else of the experiment changes.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from django.db import transaction
from django.utils import timezone

from crowdtest.corpus.models import Experiment, Stimulus, Track
from crowdtest.corpus.services.importing import Placeholder, placeholders_create
from modeling.mos import ci_half_width_t, votes_from_ci

from ..errors import ResultsError
from ..models import StimulusMOS
from .mos import mos_groups

VINYLSET_COLUMNS = ("filename", "label", "c", "mosgroup", "CI", "std")
PLACEHOLDER_ERROR = "No audio: placeholder for a MOS label imported from a Vinylset CSV."
_VINYLSET_SUFFIX = re.compile(r"(_sample)?_aache\d+_ln_C\d+$")
_HE_AAC = re.compile(r"_aache(\d+)_")
_MOSGROUP = re.compile(r"^Q\d{1,2}$")


@dataclass(frozen=True)
class LabelRow:
    line: int
    filename: str
    label: float
    cluster: int
    mosgroup: str
    ci: float
    std: float


@dataclass(frozen=True)
class VinylsetImportReport:
    rows: int
    matched: int
    placeholders: int

    def summary(self) -> str:
        return (
            f"{self.rows} labels imported: {self.matched} on existing tracks, "
            f"{self.placeholders} placeholder tracks created"
        )


def track_name(filename: str) -> str:
    """The track a Vinylset filename names: its stem without the excerpt suffix."""
    return _VINYLSET_SUFFIX.sub("", PurePosixPath(filename).stem)


def vinylset_parse(text: str) -> list[LabelRow]:
    """Rows of a Vinylset CSV, checked; every problem is reported with its line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in VINYLSET_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ResultsError(f"Not a Vinylset CSV: missing column(s) {', '.join(missing)}.")
    rows, problems, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        try:
            row = _label_row(line, raw)
        except (TypeError, ValueError) as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if row.filename in seen:
            problems.append(f"line {line}: {row.filename} appears twice")
        seen.add(row.filename)
        rows.append(row)
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise ResultsError(f"The Vinylset CSV has errors: {shown}{more}.")
    if not rows:
        raise ResultsError("The Vinylset CSV has no rows.")
    return rows


def _label_row(line: int, raw: dict[str, str]) -> LabelRow:
    filename = (raw["filename"] or "").strip()
    if not filename:
        raise ValueError("filename is empty")
    label, ci, std = float(raw["label"]), float(raw["CI"]), float(raw["std"])
    if not 1.0 <= label <= 5.0:
        raise ValueError(f"label {label} is outside the ACR scale 1..5")
    if not (math.isfinite(ci) and math.isfinite(std)) or ci < 0 or std < 0:
        raise ValueError("CI and std must be non-negative numbers")
    mosgroup = (raw["mosgroup"] or "").strip()
    if mosgroup and not _MOSGROUP.match(mosgroup):
        raise ValueError(f"mosgroup {mosgroup!r} is not Q1..Q15")
    return LabelRow(line, filename, label, int(raw["c"]), mosgroup, ci, std)


def vinylset_import(*, experiment: Experiment, text: str) -> VinylsetImportReport:
    """Store a Vinylset CSV's labels as the experiment's imported MOS rows. The vote
    count, not a column of the file, is recovered from CI and std (`votes_from_ci`);
    the Student-t CI follows from it."""
    rows = vinylset_parse(text)
    # A file without (or with some blank) classes gets the 15 classes of its labels.
    groups = [row.mosgroup for row in rows]
    if not all(groups):
        groups = mos_groups([row.label for row in rows])
    with transaction.atomic():
        stimuli, placeholders = _stimuli_for(experiment, rows)
        now = timezone.now()
        StimulusMOS.objects.filter(
            experiment=experiment, source=StimulusMOS.Source.IMPORTED
        ).delete()
        StimulusMOS.objects.bulk_create(
            [
                _mos_row(experiment, stimuli[row.filename], row, group, now)
                for row, group in zip(rows, groups)
            ],
            batch_size=2000,
        )
    return VinylsetImportReport(
        rows=len(rows), matched=len(rows) - placeholders, placeholders=placeholders
    )


def _mos_row(
    experiment: Experiment, stimulus: Stimulus, row: LabelRow, group: str, now: datetime
) -> StimulusMOS:
    n = int(votes_from_ci(row.ci, row.std)) if row.ci > 0 else None
    ci_t = float(ci_half_width_t(row.std, n)) if n is not None and n >= 2 else None
    return StimulusMOS(
        experiment=experiment,
        stimulus=stimulus,
        source=StimulusMOS.Source.IMPORTED,
        mos=row.label,
        std=row.std,
        n=n,
        ci95_normal=row.ci,
        ci95_t=ci_t,
        mosgroup=group,
        computed_at=now,
    )


def _stimuli_for(experiment: Experiment, rows: list[LabelRow]) -> tuple[dict[str, Stimulus], int]:
    """The stimulus of each row's track, creating placeholders for unmatched rows."""
    tracks = list(Track.objects.filter(experiment=experiment).select_related("stimulus"))
    by_name = {t.original_name: t for t in tracks}
    by_stem: dict[str, Track] = {}
    for t in tracks:
        by_stem.setdefault(PurePosixPath(t.original_name).stem, t)
    found: dict[str, Stimulus] = {}
    missing: list[LabelRow] = []
    for row in rows:
        track = by_name.get(row.filename) or by_stem.get(track_name(row.filename))
        stimulus = getattr(track, "stimulus", None) if track is not None else None
        if track is not None and stimulus is None:
            raise ResultsError(
                f"line {row.line}: track {track.original_name} has no stimulus yet; "
                "prepare its stimulus before importing labels for it."
            )
        if stimulus is not None:
            found[row.filename] = stimulus
        else:
            missing.append(row)
    new_stimuli = placeholders_create(
        experiment=experiment,
        placeholders=[_placeholder(row) for row in missing],
        reason=PLACEHOLDER_ERROR,
    )
    found.update({r.filename: s for r, s in zip(missing, new_stimuli)})
    return found, len(missing)


def _placeholder(row: LabelRow) -> Placeholder:
    he_aac = _HE_AAC.search(row.filename)
    return Placeholder(
        filename=row.filename,
        title=track_name(row.filename),
        cluster=row.cluster,
        codec="HE-AAC (as named in the Vinylset file)" if he_aac else "",
        bitrate_kbps=int(he_aac.group(1)) if he_aac else None,
    )
