"""The corpus commands as a new user runs them, on a folder of real audio files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path, PurePath

import pytest
from django.core.management import CommandError, call_command

from crowdtest.corpus.models import Experiment
from modeling.synth import write_demo_corpus

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_create_import_prepare_cluster_export(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_demo_corpus(archive, n_tracks=8, seconds=4.0, sample_rate=16000, seed=3)
    (archive / "broken.wav").write_text("not audio")

    assert "Created experiment 'lp'" in run(
        "create_experiment",
        "lp",
        "--name",
        "LPs",
        "--set",
        "excerpt_seconds=2.0",
        "--set",
        "n_clusters=2",
    )
    assert Experiment.objects.get(slug="lp").config.excerpt_seconds == 2.0
    out = run("import_tracks", "lp", str(archive / "manifest.csv"))
    assert "8 track(s) imported" in out
    out = run("import_tracks", "lp", str(archive))
    assert "broken.wav: broken.wav: this is a text file, not audio" in out
    assert "0 track(s) imported, 1 with errors, 8 already in the experiment" in out
    out = run("prepare_stimuli", "lp")
    assert "8 stimuli ready, 0 failed" in out
    assert "broken.wav" in out
    assert "Nothing to prepare" in run("prepare_stimuli", "lp")
    out = run("cluster_stimuli", "lp", "--k", "2", "--seed", "1")
    assert "kmeans: 2 clusters over 8 stimuli" in out
    assert "Equalised to 2 x" in out
    assert "Encoding the delivery files of" in out

    out = run("export_experiment", "lp", str(tmp_path / "export"), "--audio")
    stimuli = list(csv.DictReader((tmp_path / "export" / "stimuli.csv").open()))
    assert len(stimuli) == 9
    broken = next(r for r in stimuli if r["file"] == "broken.wav")
    assert broken["status"] == "not prepared" and broken["error"]
    assert broken["master_file"] == broken["delivery_file"] == ""
    # The audio lies beside stimuli.csv under the names it gives, named after the tracks.
    written = 0
    for r in stimuli:
        for column in ("master_file", "delivery_file"):
            if r[column]:
                assert PurePath(r[column]).stem == PurePath(r["file"]).stem
                assert (tmp_path / "export" / r[column]).stat().st_size > 1000
                written += 1
    selected = [r for r in stimuli if r["selected"] == "1"]
    assert selected and all(r["delivery_file"].endswith(".m4a") for r in selected)
    assert all(r["master_file"] for r in stimuli if r["status"] == "ready")
    assert f"{written} audio files under" in out
    ready = [r for r in stimuli if r["status"] == "ready"]
    assert all(abs(float(r["lufs_after"]) + 23) <= 0.5 for r in ready)
    assert {r["selected"] for r in ready} == {"0", "1"}
    assert all(r["codec"] and r["bitrate_kbps"] == "320" for r in ready if r["selected"] == "1")
    assert all(not r["codec"] for r in ready if r["selected"] == "0")
    manifest = json.loads((tmp_path / "export" / "export.json").read_text())
    assert manifest["settings"]["excerpt_seconds"] == 2.0
    assert manifest["code_version"]
    tracks = list(csv.DictReader((tmp_path / "export" / "tracks.csv").open()))
    assert {r["carrier"] for r in tracks if r["file"] != "broken.wav"} != {""}


def test_commands_name_the_problem() -> None:
    with pytest.raises(CommandError, match="No experiment 'nope'"):
        run("prepare_stimuli", "nope")
    run("create_experiment", "dup", "--name", "x")
    with pytest.raises(CommandError, match="already exists"):
        run("create_experiment", "dup", "--name", "x")
    with pytest.raises(CommandError, match="Unknown settings: colour"):
        run("create_experiment", "other", "--name", "x", "--set", "colour=blue")
    with pytest.raises(CommandError, match="too few to cluster"):
        run("cluster_stimuli", "dup")


def test_export_names_a_destination_it_cannot_write(tmp_path: Path) -> None:
    run("create_experiment", "out", "--name", "x")
    taken = tmp_path / "taken.csv"
    taken.write_text("a file\n")
    with pytest.raises(CommandError, match="is a file, not a folder"):
        run("export_experiment", "out", str(taken))
    with pytest.raises(CommandError, match="Can't write the export to /proc/nope"):
        run("export_experiment", "out", "/proc/nope")
