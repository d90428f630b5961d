"""Import of historical AMT batch results (the requester website's "Download CSV") into
an experiment's votes.

One CSV row is one MTurk assignment: a rater (WorkerId) taking one session (HITId) once
(AssignmentId). Column names are matched without regard to case. What is read:

- `HITId`, `AssignmentId`, `WorkerId` (required), `AssignmentStatus`, `AcceptTime`,
  `SubmitTime`;
- ratings, as pairs of a clip URL and an ACR score (1..5):
  `Input.audio_url_N` + `Answer.rating_N`, or the P.808 toolkit's `Answer.qN_url` +
  `Answer.qN`; a clip is matched to a stimulus by its file name (the track's file name,
  its stem, or the Vinylset name without `_aache320_ln_C0`); `Answer.audio_n_finish_qN`
  of 0 (the clip did not play to its end) makes the session count as not completed;
- the trap: `Input.TP` (its clip URL) and `Input.TP_ans` (the answer it asks for): the
  rating of that clip is the trap vote, on one of the experiment's traps asking for the
  same answer; gold clips (`Input.gold_clips`) are skipped;
- the math question: `Answer.math` against `Input.math_ans`, or against the answer a
  `--math-key math1.wav=3` gives the clip in `Input.math` (the toolkit's [math] section);
  as in the toolkit, a number above 9 counts as the sum of its digits; a math clip never
  played (`Answer.audio_n_play_math1` = 0) counts as unanswered;
- hearing: `Answer.hearing`, `Answer.hearing_normal` or the toolkit's `Answer.8_hearing`
  ("normal", yes/no); headphones: `Answer.headphones` (yes/no) or the toolkit's listening
  device `Answer.4_ld` / `Answer.listening_device` (in-ear or over-ear are headphones; a
  loudspeaker, ex-ls or ib-ls, is not).

A row that can't be matched gets an error with its line, and the others go on. A row
whose AssignmentId the experiment already has is skipped, so importing again adds no
vote. Every imported session is screened like any other; it is never paid here.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from django.db import transaction
from django.utils import timezone as dj_timezone

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Session, Trap
from crowdtest.design.services.sessions import session_add_done
from crowdtest.rating.imported import ImportedRating, ImportedSession, assignment_import
from crowdtest.rating.models import Assignment, Vote
from crowdtest.results.services import assignment_screen
from crowdtest.results.services.vinylset import track_name

from ..errors import PlatformError
from ..models import ImportedAssignment

_PAIR_GENERIC = re.compile(r"input\.audio_url_(\d+)")
_PAIR_P808 = re.compile(r"answer\.(q\d+)_url")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_ZONES = {"PST": -8, "PDT": -7, "MST": -7, "MDT": -6, "CST": -6, "CDT": -5, "EST": -5}
_ZONES |= {"EDT": -4, "UTC": 0, "GMT": 0}
YES = {"yes", "y", "true", "1", "normal", "on"}
NO = {"no", "n", "false", "0", "abnormal", "impaired", "off"}
HEADPHONES = {"in-ear", "over-ear", "headphones", "earphones"}
LOUDSPEAKERS = {"ex-ls", "ib-ls", "loudspeaker", "loudspeakers", "speakers"}


class RowError(Exception):
    pass


@dataclass
class AmtImportReport:
    rows: int = 0
    imported: int = 0
    already: int = 0
    votes: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.rows} rows: {self.imported} sessions imported ({self.votes} votes), "
            f"{self.already} already imported, {len(self.errors)} with errors"
        )


@dataclass(frozen=True)
class Clip:
    url: str
    score: int
    played: bool


def amt_results_import(
    *,
    experiment: Experiment,
    text: str,
    source: str,
    math_key: dict[str, int] | None = None,
) -> AmtImportReport:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = {name.lower(): name for name in reader.fieldnames or []}
    missing = [c for c in ("hitid", "assignmentid", "workerid") if c not in headers]
    if missing:
        raise PlatformError(
            "Not an AMT batch-results CSV: missing column(s) "
            + ", ".join(headers.get(c, c) for c in missing)
        )
    stimuli = _stimulus_index(experiment)
    traps = _traps(experiment)
    known = set(
        Assignment.objects.filter(experiment=experiment, rater__platform="mturk").values_list(
            "platform_assignment_id", flat=True
        )
    )
    report = AmtImportReport()
    imported: list[Assignment] = []
    for line, raw in enumerate(reader, start=2):
        report.rows += 1
        row = {(k or "").lower(): (v or "").strip() for k, v in raw.items()}
        if row.get("assignmentid") in known:
            report.already += 1
            continue
        try:
            with transaction.atomic():
                assignment = _import_row(experiment, row, stimuli, traps, math_key or {})
                ImportedAssignment.objects.create(
                    assignment=assignment,
                    source=source[:300],
                    line=line,
                    amt_status=row.get("assignmentstatus", "")[:16],
                )
        except RowError as exc:
            report.errors.append((line, str(exc)))
            continue
        known.add(assignment.platform_assignment_id)
        imported.append(assignment)
        report.imported += 1
        report.votes += Vote.objects.filter(assignment=assignment).count()
    for assignment in imported:
        assignment_screen(assignment=assignment)
    return report


def _stimulus_index(experiment: Experiment) -> dict[str, Stimulus]:
    """Stimuli by every name a clip's file may carry: the track's file name, its stem
    and its Vinylset track name (lower case)."""
    index: dict[str, Stimulus] = {}
    for stimulus in Stimulus.objects.filter(experiment=experiment).select_related("track"):
        name = PurePosixPath(stimulus.track.original_name).name
        for key in (name, PurePosixPath(name).stem, track_name(name)):
            index.setdefault(key.lower(), stimulus)
    return index


def _traps(experiment: Experiment) -> dict[int, Trap]:
    traps: dict[int, Trap] = {}
    for trap in Trap.objects.filter(experiment=experiment).order_by("pk"):
        traps.setdefault(trap.answer, trap)
    return traps


def _file(url: str) -> str:
    return PurePosixPath(unquote(urlsplit(url).path)).name


def _match(url: str, stimuli: dict[str, Stimulus]) -> Stimulus | None:
    name = _file(url)
    for key in (name, PurePosixPath(name).stem, track_name(name)):
        found = stimuli.get(key.lower())
        if found is not None:
            return found
    return None


def _clips(row: dict[str, str]) -> list[Clip]:
    clips = []
    for key in sorted(row, key=_natural):
        generic, p808 = _PAIR_GENERIC.fullmatch(key), _PAIR_P808.fullmatch(key)
        if generic:
            url, score, finish = row[key], row.get(f"answer.rating_{generic[1]}", ""), ""
        elif p808:
            name = p808[1]
            url, score = row[key], row.get(f"answer.{name}", "")
            finish = row.get(f"answer.audio_n_finish_{name}", "")
        else:
            continue
        if not url:
            continue
        if not score.isdigit() or not 1 <= int(score) <= 5:
            raise RowError(f"{_file(url)}: the score {score!r} is not 1 to 5")
        clips.append(Clip(url, int(score), finish == "" or (finish.isdigit() and int(finish) > 0)))
    return clips


def _natural(key: str) -> tuple[str, int]:
    digits = re.search(r"(\d+)(?!.*\d)", key)
    return (re.sub(r"\d+", "#", key), int(digits[1]) if digits else -1)


def _import_row(
    experiment: Experiment,
    row: dict[str, str],
    stimuli: dict[str, Stimulus],
    traps: dict[int, Trap],
    math_key: dict[str, int],
) -> Assignment:
    hit, worker, assignment_id = row["hitid"], row["workerid"], row["assignmentid"]
    for name, value in (("HITId", hit), ("WorkerId", worker), ("AssignmentId", assignment_id)):
        if not _ID.fullmatch(value):
            raise RowError(f"{name} is missing or not valid")
    clips = _clips(row)
    if not clips:
        raise RowError("no ratings (Input.audio_url_N/Answer.rating_N or Answer.qN_url/Answer.qN)")
    trap_url, gold = row.get("input.tp", ""), set(row.get("input.gold_clips", "").split(","))
    items: list[tuple[Stimulus | None, Trap | None, Clip]] = []
    for clip in clips:
        if trap_url and (clip.url == trap_url or _file(clip.url) == _file(trap_url)):
            items.append((None, _trap(row, traps), clip))
        elif clip.url in gold or _file(clip.url) in {_file(g) for g in gold if g}:
            continue
        else:
            stimulus = _match(clip.url, stimuli)
            if stimulus is None:
                raise RowError(f"{_file(clip.url)} matches no stimulus of the experiment")
            items.append((stimulus, None, clip))
    accepted, submitted = _when(row.get("accepttime", "")), _when(row.get("submittime", ""))
    submitted = submitted or dj_timezone.now()
    accepted = accepted or submitted
    math_answer, math_given = _math(row, math_key)
    taken = ImportedSession(
        platform="mturk",
        worker=worker,
        batch_id=hit,
        assignment_id=assignment_id,
        accepted=accepted,
        submitted=submitted,
        ratings=[
            ImportedRating(stimulus=stimulus, trap=trap, score=clip.score, played=clip.played)
            for stimulus, trap, clip in items
        ],
        math_question="(imported from AMT)" if math_answer is not None else "",
        math_answer=math_answer,
        math_given=math_given,
        hearing_normal=_yes_no(
            row, ("answer.hearing", "answer.hearing_normal", "answer.8_hearing")
        ),
        headphones=_headphones(row),
    )
    return assignment_import(
        experiment=experiment, session=_session(experiment, hit, items), taken=taken
    )


def _trap(row: dict[str, str], traps: dict[int, Trap]) -> Trap:
    answer = row.get("input.tp_ans", "")
    try:
        expected = int(float(answer))
    except ValueError:
        raise RowError(f"Input.TP_ans {answer!r} is not an answer from 1 to 5") from None
    trap = traps.get(expected)
    if trap is None:
        raise RowError(
            f"the experiment has no trap asking for {expected}: build the sessions first"
        )
    return trap


def _session(
    experiment: Experiment, hit: str, items: list[tuple[Stimulus | None, Trap | None, Clip]]
) -> Session:
    """The HIT as a done rating session of the experiment (one per HITId)."""
    found = (
        ImportedAssignment.objects.filter(
            assignment__experiment=experiment, assignment__platform_batch_id=hit
        )
        .select_related("assignment__session")
        .first()
    )
    if found is not None:
        return found.assignment.session
    return session_add_done(
        experiment=experiment,
        items=[
            (None if stimulus is None else stimulus.pk, None if trap is None else trap.pk)
            for stimulus, trap, _ in items
        ],
    )


def _math(row: dict[str, str], math_key: dict[str, int]) -> tuple[int | None, int | None]:
    expected: int | None = None
    if row.get("input.math_ans", "").strip():
        try:
            expected = int(float(row["input.math_ans"]))
        except ValueError:
            raise RowError(f"Input.math_ans {row['input.math_ans']!r} is not a number") from None
    elif row.get("input.math") and math_key:
        expected = math_key.get(_file(row["input.math"]).lower())
    if expected is None:
        return None, None
    given_text = row.get("answer.math", "")
    if row.get("answer.audio_n_play_math1", "") == "0" or not given_text.lstrip("-").isdigit():
        return expected, None
    given = int(given_text)
    if given > 9:  # typed the digits heard rather than their sum (the toolkit's leniency)
        given = sum(int(d) for d in str(given))
    return expected, given


def _yes_no(row: dict[str, str], names: tuple[str, ...]) -> bool | None:
    for name in names:
        value = row.get(name, "").lower()
        if value in YES:
            return True
        if value in NO:
            return False
    return None


def _headphones(row: dict[str, str]) -> bool | None:
    direct = _yes_no(row, ("answer.headphones",))
    if direct is not None:
        return direct
    for name in ("answer.4_ld", "answer.listening_device"):
        devices = {d.strip().lower() for d in row.get(name, "").split("|") if d.strip()}
        if devices & LOUDSPEAKERS:
            return False
        if devices and devices <= HEADPHONES:
            return True
    return None


def _when(text: str) -> datetime | None:
    """AMT's times ("Mon Nov 04 22:15:19 PST 2019"), or ISO 8601."""
    if not text:
        return None
    parts = text.split()
    if len(parts) == 6 and parts[4] in _ZONES:
        zone = timezone(timedelta(hours=_ZONES[parts[4]]))
        try:
            when = datetime.strptime(" ".join(parts[:4] + parts[5:]), "%a %b %d %H:%M:%S %Y")
        except ValueError:
            return None
        return when.replace(tzinfo=zone).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
