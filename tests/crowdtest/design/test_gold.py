"""Gold stimuli end to end on a small real corpus: marked from a CSV, encoded as clips of
their own at the next build, dealt into the rating sessions beside the traps, and
written to sessions.csv with their known score."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, DjangoDbBlocker

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.gold import gold_clear, gold_mark
from crowdtest.design.models import GoldClip, GoldStimulus, Session, Trap
from crowdtest.design.services import (
    DesignError,
    design_build_start,
    design_check,
    design_numbers,
)
from crowdtest.exports import export_experiment

from .test_build_sessions import BUILDS, SETTINGS, prepared_experiment, wipe

pytestmark = BUILDS


@pytest.fixture(scope="module")
def corpus(
    django_db_setup: None,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Experiment]:
    folder = tmp_path_factory.mktemp("gold-corpus")
    with django_db_blocker.unblock():
        experiment = prepared_experiment(
            folder,
            slug="design-gold",
            settings={**SETTINGS, "trap_sources": 1},
            n_tracks=14,
            seed=2,
        )
        yield experiment
        wipe(experiment)


def _stimuli(experiment: Experiment, *, rated: bool) -> list[Stimulus]:
    stimuli = Stimulus.objects.filter(experiment=experiment, status="ready")
    chosen = stimuli.filter(role="rated") if rated else stimuli.exclude(role="rated")
    return list(chosen.select_related("track").order_by("pk"))


def _mark(experiment: Experiment) -> dict[int, int]:
    """Two spare stimuli marked gold (5 and 1); marks made in a test end with it."""
    spare = _stimuli(experiment, rated=False)
    rows = [{"track_id": str(spare[0].track_id), "score": "5"}]
    rows.append({"file": spare[1].track.original_name, "score": "1"})
    report = gold_mark(experiment=experiment, rows=rows)
    assert report.errors == []
    return {spare[0].pk: 5, spare[1].pk: 1}


def _write(path: Path, rows: list[tuple[str, str]], header: tuple[str, str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_mark_gold_marks_the_good_rows_and_names_each_bad_one(
    corpus: Experiment, tmp_path: Path
) -> None:
    spare = _stimuli(corpus, rated=False)
    rated = _stimuli(corpus, rated=True)
    assert len(spare) >= 3, "the corpus needs spare stimuli for a trap source and gold"
    path = _write(
        tmp_path / "gold.csv",
        [
            (spare[0].track.original_name, "5"),
            (spare[1].track.original_name, "Bad"),
            (rated[0].track.original_name, "3"),
            ("not-in-the-corpus.wav", "3"),
            (spare[2].track.original_name, "9"),
        ],
        ("file", "score"),
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("mark_gold", corpus.slug, str(path), stdout=out, stderr=err)
    assert "2 gold stimuli marked, 0 unchanged, 3 rows refused" in out.getvalue()
    assert "line 4: " in err.getvalue() and "among the stimuli to rate" in err.getvalue()
    assert "line 5: No track 'not-in-the-corpus.wav'" in err.getvalue()
    assert "line 6: score '9' is not 1..5" in err.getvalue()
    marks = dict(GoldStimulus.objects.filter(experiment=corpus).values_list("stimulus", "score"))
    assert marks == {spare[0].pk: 5, spare[1].pk: 1}

    out = io.StringIO()
    call_command("mark_gold", corpus.slug, str(path), stdout=out, stderr=io.StringIO())
    assert "0 gold stimuli marked, 2 unchanged" in out.getvalue()  # marking again is harmless


def test_a_file_without_the_columns_is_refused_whole(corpus: Experiment, tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", [("x.wav", "5")], ("filename", "mos"))
    with pytest.raises(CommandError, match="needs a 'score' column"):
        call_command("mark_gold", corpus.slug, str(path))
    binary = tmp_path / "gold.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CommandError, match="can't be read as a UTF-8 CSV"):
        call_command("mark_gold", corpus.slug, str(binary))


def test_design_checks_refuse_gold_settings_the_marks_cannot_serve(corpus: Experiment) -> None:
    marked = len(_mark(corpus))
    corpus.settings = corpus.config.replace(gold_per_session=marked + 1).to_dict()
    with pytest.raises(DesignError, match=f"needs at least that many gold stimuli; {marked}"):
        design_check(experiment=corpus, numbers=design_numbers(experiment=corpus))
    corpus.settings = corpus.config.replace(gold_per_session=1, screen_gold=True).to_dict()
    design_check(experiment=corpus, numbers=design_numbers(experiment=corpus))
    gold_clear(experiment=corpus)
    design_check(experiment=corpus, numbers=design_numbers(experiment=corpus))  # made ones
    corpus.settings = corpus.config.replace(gold_made=False).to_dict()
    with pytest.raises(DesignError, match="screen_gold is on but no gold stimuli are marked"):
        design_check(experiment=corpus, numbers=design_numbers(experiment=corpus))


def test_sessions_built_with_gold_hold_one_gold_clip_each(
    corpus: Experiment,
    tmp_path: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    corpus.settings = corpus.config.replace(screen_gold=True).to_dict()
    corpus.save(update_fields=["settings"])
    marks = _mark(corpus)
    with django_capture_on_commit_callbacks(execute=True):  # the build is queued on commit
        job = design_build_start(experiment=corpus, digits_pool=2)
    job.refresh_from_db()
    assert job.status == job.Status.SUCCEEDED, job.error

    gold = list(GoldClip.objects.filter(experiment=corpus).select_related("source"))
    assert {(g.source_id, g.answer) for g in gold} == set(marks.items())
    rated_lengths: set[float] = set()
    for stimulus in _stimuli(corpus, rated=True):
        assert stimulus.duration_s is not None
        rated_lengths.add(stimulus.duration_s)
    for clip in gold:
        assert clip.source.role == "gold"
        assert clip.delivery.name is not None
        assert clip.media_key in clip.delivery.name  # opaque, like every other clip
        assert any(abs(clip.duration_s - length) < 0.05 for length in rated_lengths)
    sources = set(Trap.objects.filter(experiment=corpus).values_list("source", flat=True))
    assert len(sources) == 1 and not sources & set(marks)

    uses: Counter[int] = Counter()
    for session in Session.objects.filter(experiment=corpus, kind="rating"):
        items = list(session.items.order_by("position"))
        kinds = Counter("trap" if i.trap_id else "gold" for i in items if i.trap_id or i.gold_id)
        assert kinds == {"trap": 1, "gold": 1}
        assert items[0].stimulus_id is not None  # the first clip is always one to rate
        uses.update(i.gold_id for i in items if i.gold_id is not None)
    assert max(uses.values()) - min(uses.values()) <= 1

    # sessions.csv names each gold clip with its known score
    export_experiment(corpus, tmp_path)
    with (tmp_path / "sessions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    gold_rows = [r for r in rows if r["item"] == "gold"]
    answers = dict(GoldClip.objects.filter(experiment=corpus).values_list("pk", "answer"))
    assert gold_rows and {int(r["gold_clip_id"]) for r in gold_rows} == set(answers)
    assert all(int(r["expected_answer"]) == answers[int(r["gold_clip_id"])] for r in gold_rows)
    assert all(r["trap_id"] == "" for r in gold_rows)
    assert {r["item"] for r in rows} == {"stimulus", "trap", "gold"}


def test_the_sessions_page_lists_gold_stimuli_and_shows_scores_to_admins_only(
    corpus: Experiment, client: Client, staff_user: User, admin_user_account: User
) -> None:
    marks = _mark(corpus)
    names = dict(Stimulus.objects.filter(pk__in=marks).values_list("pk", "track__original_name"))
    url = reverse("design:overview", args=[corpus.slug])
    client.force_login(staff_user)
    page = client.get(url).content.decode()
    assert all(name in page for name in names.values())
    assert "<th>known score</th>" not in page
    client.force_login(admin_user_account)
    page = client.get(url).content.decode()
    assert "<th>known score</th>" in page and "2 marked" in page


def test_replace_changes_nothing_when_a_row_is_bad_and_extra_fields_are_named(
    corpus: Experiment, tmp_path: Path
) -> None:
    marks = _mark(corpus)
    spare = _stimuli(corpus, rated=False)
    path = tmp_path / "gold.csv"
    path.write_text(
        f"file,score\n{spare[2].track.original_name},4\nSong, Live.wav,4\n", encoding="utf-8"
    )
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("mark_gold", corpus.slug, str(path), "--replace", stderr=err)
    assert "line 3: The row has more fields than the header" in err.getvalue()
    kept = dict(GoldStimulus.objects.filter(experiment=corpus).values_list("stimulus", "score"))
    assert kept == marks
