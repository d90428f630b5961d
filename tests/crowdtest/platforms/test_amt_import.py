"""`import_amt_results`: a historical AMT batch-results CSV (the requester site's
Download CSV, in the P.808 toolkit's ACR shape and in the plain Input/Answer shape)
becomes sessions and votes, screened like any other; bad rows get their line; importing
again adds nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Session
from crowdtest.platforms.models import ImportedAssignment
from crowdtest.platforms.selectors import payment_plan
from crowdtest.rating.models import Assignment, Vote
from crowdtest.results.models import SessionVerdict
from tests.crowdtest.rating.designs import make_design

pytestmark = pytest.mark.django_db
CLIPS = "https://storage.example.org/p808/clips/"
HEADER = [
    "HITId",
    "HITTypeId",
    "Title",
    "Reward",
    "AssignmentId",
    "WorkerId",
    "AssignmentStatus",
    "AcceptTime",
    "SubmitTime",
    "WorkTimeInSeconds",
    "Input.math",
    "Input.TP",
    "Input.TP_ans",
    "Input.gold_clips",
    "Answer.math",
    "Answer.audio_n_play_math1",
    "Answer.4_ld",
    "Answer.8_hearing",
    "Answer.q1",
    "Answer.q1_url",
    "Answer.audio_n_finish_q1",
    "Answer.q2",
    "Answer.q2_url",
    "Answer.audio_n_finish_q2",
    "Answer.q3",
    "Answer.q3_url",
    "Answer.audio_n_finish_q3",
    "Answer.q4",
    "Answer.q4_url",
    "Answer.audio_n_finish_q4",
]


@pytest.fixture
def experiment() -> Experiment:
    return make_design(n_clusters=2, size=2, per_cluster=1, votes=1, training=1).experiment


def names(experiment: Experiment) -> list[str]:
    return [s.track.original_name for s in experiment.stimuli.filter(role="rated").order_by("pk")]


def row(
    experiment: Experiment,
    worker: str,
    assignment: str,
    *,
    scores: tuple[int, int] = (2, 5),
    trap: str = "3",
    device: str = "in-ear",
    math: str = "3",
    clip: str = "",
    first: str = "",
) -> list[str]:
    a, b = names(experiment)[:2]
    return [
        "3HITONE",
        "3TYPE",
        "Rate music quality",
        "$0.50",
        assignment,
        worker,
        "Submitted",
        "Mon Nov 04 22:15:19 PST 2019",
        "Mon Nov 04 22:33:52 PST 2019",
        "1113",
        f"{CLIPS}math1.wav",
        f"{CLIPS}tp_ans3.wav",
        "3",
        f"{CLIPS}gold_good.wav",
        math,
        "1",
        device,
        "normal",
        first or str(scores[0]),
        f"{CLIPS}{clip or a}",
        "1",
        str(scores[1]),
        f"{CLIPS}{b}",
        "1",
        trap,
        f"{CLIPS}tp_ans3.wav",
        "1",
        "5",
        f"{CLIPS}gold_good.wav",
        "1",
    ]


def write(tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path = tmp_path / "Batch_4242_batch_results.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(experiment: Experiment, path: Path, *extra: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_amt_results", experiment.slug, str(path), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_p808_batch_becomes_screened_sessions_and_votes(
    experiment: Experiment, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        [
            row(experiment, "AWGOOD", "3AGOOD"),
            row(experiment, "AWTRAP", "3ATRAP", trap="1"),
            row(experiment, "AWSPEAKER", "3ASPKR", device="in-ear|ex-ls"),
            row(experiment, "AWDIGITS", "3ADIGS", math="12"),  # typed 1 and 2: their sum, 3
            row(experiment, "AWLOST", "3ALOST", clip="not_in_this_archive.wav"),
            row(experiment, "AWSEVEN", "3ASEVEN", first="7"),
        ],
    )
    out, err = run(experiment, path, "--math-key", "math1.wav=3")
    assert (
        out.strip() == "6 rows: 4 sessions imported (12 votes), 0 already imported, 2 with errors"
    )
    assert "line 6: not_in_this_archive.wav matches no stimulus of the experiment" in err
    assert "line 7:" in err and "the score '7' is not 1 to 5" in err

    good = Assignment.objects.get(platform_assignment_id="3AGOOD")
    assert (good.rater.platform, good.rater.external_id, good.platform_batch_id) == (
        "mturk",
        "AWGOOD",
        "3HITONE",
    )
    assert (good.math_answer, good.math_given, good.headphones, good.hearing_normal) == (
        3,
        3,
        True,
        True,
    )
    votes = Vote.objects.filter(assignment=good).order_by("item__position")
    assert [(v.score, v.trap_id is not None) for v in votes] == [(2, False), (5, False), (3, True)]
    assert good.started_at.isoformat() == "2019-11-05T06:15:19+00:00"
    assert ImportedAssignment.objects.get(assignment=good).line == 2
    verdicts = dict(
        SessionVerdict.objects.values_list("assignment__platform_assignment_id", "valid")
    )
    assert verdicts == {"3AGOOD": True, "3ATRAP": False, "3ASPKR": False, "3ADIGS": True}
    assert SessionVerdict.objects.get(assignment__platform_assignment_id="3ATRAP").reasons == [
        "trap_wrong"
    ]
    # One HIT, one done session; never paid here.
    assert Session.objects.filter(status="done").count() == 1
    assert payment_plan(experiment=experiment).items == []

    # Importing again is harmless.
    again, _ = run(experiment, path, "--math-key", "math1.wav=3")
    assert "0 sessions imported (0 votes), 4 already imported, 2 with errors" in again
    assert Vote.objects.filter(assignment__imported_from__isnull=False).count() == 12


def test_the_plain_input_answer_shape(experiment: Experiment, tmp_path: Path) -> None:
    a, b = names(experiment)[:2]
    header = [
        "HITId",
        "AssignmentId",
        "WorkerId",
        "AssignmentStatus",
        "SubmitTime",
        "Input.audio_url_1",
        "Input.audio_url_2",
        "Input.math_ans",
        "Answer.rating_1",
        "Answer.rating_2",
        "Answer.math",
        "Answer.hearing",
        "Answer.headphones",
    ]
    rows = [
        [
            "3HIT2",
            "3APLAIN",
            "AWPLAIN",
            "Approved",
            "2019-11-05T06:33:52+00:00",
            f"{CLIPS}{Path(a).stem}.mp4",
            f"{CLIPS}{b}",
            "7",
            "1",
            "4",
            "7",
            "yes",
            "no",
        ],
        [
            "3HIT2",
            "",
            "AWNOID",
            "Approved",
            "",
            f"{CLIPS}{a}",
            f"{CLIPS}{b}",
            "7",
            "1",
            "4",
            "7",
            "yes",
            "yes",
        ],
    ]
    out, err = run(experiment, write(tmp_path, rows, header))
    assert "1 sessions imported (2 votes)" in out and "line 3: AssignmentId is missing" in err
    plain = Assignment.objects.get(platform_assignment_id="3APLAIN")
    assert (plain.math_answer, plain.math_given, plain.headphones) == (7, 7, False)
    assert SessionVerdict.objects.get(assignment=plain).reasons == ["no_headphones"]


def test_not_an_amt_csv(experiment: Experiment, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("filename,label\nx.wav,3.2\n")
    with pytest.raises(CommandError, match="missing column"):
        run(experiment, path)
