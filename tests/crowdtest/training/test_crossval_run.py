"""One whole tiny cross-validation through `train_w2vmos` (3 folds over 18 stimuli, 2
epochs), shared by the tests of what it records, its pages, plots, export, and the
archive scoring made with it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, DjangoDbBlocker

from crowdtest.corpus.models import Experiment
from crowdtest.exports import export_one
from crowdtest.jobs.models import Job
from crowdtest.training.models import ModelRun, ScoringRun
from tests.factories import ModelRunFactory

from .conftest import FAST, labelled_experiment, write_wavs

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(
    django_db_setup: Any, django_db_blocker: DjangoDbBlocker, tiny_backbone: Path
) -> Iterator[tuple[Experiment, ModelRun, str]]:
    with django_db_blocker.unblock():
        experiment = labelled_experiment(18, slug="cv-run")
        out = io.StringIO()
        call_command(
            "train_w2vmos",
            experiment.slug,
            "--backbone",
            str(tiny_backbone),
            "--max-epochs",
            "2",
            *FAST,
            stdout=out,
            stderr=io.StringIO(),
        )
        run = ModelRun.objects.get(experiment=experiment)
        yield experiment, run, out.getvalue()
        Job.objects.filter(scope=experiment.job_scope).delete()
        experiment.delete()


def test_the_command_trains_every_fold_and_prints_the_papers_table(
    trained: tuple[Experiment, ModelRun, str],
) -> None:
    _, run, output = trained
    assert run.status == ModelRun.Status.SUCCEEDED and run.kind == ModelRun.Kind.CROSSVAL
    assert "fold 3" in output and f"w2vMOS (run {run.pk}): RMSE" in output
    assert "w2vMOS (paper, Vinylset): RMSE 0.29 ± 0.017" in output
    assert run.job is not None and run.job.status == Job.Status.SUCCEEDED
    assert (run.job.done, run.job.total) == (3, 3)
    assert run.n_items == 18 and len(run.labels) == 18 and len(run.labels_fingerprint) == 16
    assert run.code_version and run.config["model"]["backbone"].endswith(
        Path(run.config["backbone"]).name
    )
    assert run.config["mos_classes"] == 6 and run.config["cv"]["k"] == 3
    assert set(run.summary) >= {"rmse", "pcc", "srcc", "pra", "tau"}
    folds = list(run.folds.order_by("index"))
    assert [f.status for f in folds] == ["succeeded"] * 3
    stimuli = {label[0] for label in run.labels}
    tested = []
    for fold in folds:
        assert (fold.n_train, fold.n_val, fold.n_test) == (12, 3, 3)
        assert [h["epoch"] for h in fold.history] == [1, 2] and fold.epochs_run == 2
        assert fold.tau is not None and fold.tau > 0 and "pra" in fold.metrics
        assert {p["stimulus"] for p in fold.predictions} <= stimuli
        tested += [p["stimulus"] for p in fold.predictions if p["split"] == "test"]
    assert len(tested) == len(set(tested)) == 9  # each stimulus tested at most once
    assert (run.path / "crossval" / "results.json").is_file()


def test_run_pages_show_progress_folds_and_the_final_table(
    trained: tuple[Experiment, ModelRun, str], staff_client: Client
) -> None:
    experiment, run, _ = trained
    listing = staff_client.get(reverse("training:run_list", args=[experiment.slug]))
    assert listing.status_code == 200
    assert f"w2vMOS (run {run.pk})" in listing.text and "paper, Vinylset" in listing.text
    detail = staff_client.get(reverse("training:run_detail", args=[experiment.slug, run.pk]))
    text = detail.text
    assert detail.status_code == 200
    assert "Tables 1 and 2" in text and "fold 3" in text and "89.74 ± 3.69" in text
    assert reverse("training:run_plot", args=[experiment.slug, run.pk, "pra"]) in text


@pytest.mark.parametrize("name", ["losses", "folds", "pra", "predictions"])
def test_plots_are_pngs(
    trained: tuple[Experiment, ModelRun, str], staff_client: Client, name: str
) -> None:
    experiment, run, _ = trained
    response = staff_client.get(reverse("training:run_plot", args=[experiment.slug, run.pk, name]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content.startswith(PNG)


def test_pages_plots_and_actions_are_for_staff_only(
    trained: tuple[Experiment, ModelRun, str], client: Client, django_user_model: type[User]
) -> None:
    experiment, run, _ = trained
    urls = [
        reverse("training:run_list", args=[experiment.slug]),
        reverse("training:run_detail", args=[experiment.slug, run.pk]),
        reverse("training:run_plot", args=[experiment.slug, run.pk, "pra"]),
    ]
    download = reverse("training:scoring_download", args=[experiment.slug, 1])
    assert client.get(download).status_code == 403  # a file: refused, not a login page
    urls.append(download)
    for url in urls[:-1]:
        assert client.get(url).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_user("rater", password="x" * 12))
    for url in urls:
        assert client.get(url).status_code == 403
    posts = ["run_cancel", "run_resume", "scoring_start"]
    for name in posts:
        assert (
            client.post(reverse(f"training:{name}", args=[experiment.slug, run.pk])).status_code
            == 403
        )
    assert ModelRun.objects.get(pk=run.pk).status == ModelRun.Status.SUCCEEDED


def test_the_run_list_makes_the_same_queries_for_one_run_or_many(
    staff_client: Client, django_db_blocker: DjangoDbBlocker
) -> None:
    experiment = ModelRunFactory().experiment
    assert experiment is not None
    url = reverse("training:run_list", args=[experiment.slug])
    staff_client.get(url)  # warm caches (session, user)
    from django.db import connection

    with CaptureQueriesContext(connection) as one:
        staff_client.get(url)
    ModelRunFactory.create_batch(6, experiment=experiment)
    with CaptureQueriesContext(connection) as many:
        response = staff_client.get(url)
    assert response.status_code == 200 and response.text.count("(run ") == 7
    assert len(many) == len(one) <= 8


def test_predict_quality_scores_a_folder_and_reports_the_corrupt_file(
    trained: tuple[Experiment, ModelRun, str], tmp_path: Path
) -> None:
    _, run, _ = trained
    archive = tmp_path / "archive"
    good = write_wavs(archive, 3)
    (archive / "corrupt.wav").write_bytes(b"RIFF not really a wave file")
    out = tmp_path / "quality.csv"
    stdout = io.StringIO()
    call_command(
        "predict_quality", str(run.pk), str(archive), str(out), stdout=stdout, stderr=io.StringIO()
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["path"] for r in rows] == sorted(str(p) for p in [*good, archive / "corrupt.wav"])
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["corrupt.wav"]["predicted_mos"] == "" and by_name["corrupt.wav"]["error"]
    for path in good:
        row = by_name[path.name]
        assert 0.0 < float(row["predicted_mos"]) < 6.0 and row["error"] == ""
    assert {r["model_run"] for r in rows} == {str(run.pk)} and rows[0]["code_version"]
    assert "3 of 4 files scored" in stdout.getvalue()
    scoring = ScoringRun.objects.get(run=run, out_path=str(out.resolve()))
    assert (scoring.status, scoring.n_scored, scoring.n_failed) == ("succeeded", 3, 1)
    best = min(run.folds.all(), key=lambda f: f.best_val_loss or 0.0)
    assert scoring.model_fold == best.index  # the fold chosen on validation loss
    scoring.delete()

    # An output that is a folder, or a folder with no audio, is refused before any scoring.
    with pytest.raises(CommandError, match=r"is a folder: give the CSV file to write"):
        call_command("predict_quality", str(run.pk), str(archive), str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match=r"empty holds no audio files to score"):
        call_command("predict_quality", str(run.pk), str(tmp_path / "empty"), str(out))
    assert not ScoringRun.objects.filter(run=run).exists()


def test_scoring_from_the_page_writes_a_downloadable_csv(
    trained: tuple[Experiment, ModelRun, str],
    staff_client: Client,
    staff_user: User,
    tmp_path: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    experiment, run, _ = trained
    archive = tmp_path / "lp"
    write_wavs(archive, 2)
    url = reverse("training:scoring_start", args=[experiment.slug, run.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"source": str(archive), "device": "cpu"})
    assert response.status_code == 302
    scoring = ScoringRun.objects.get(run=run, source=str(archive))
    assert scoring.status == "succeeded" and scoring.n_scored == 2 and scoring.output
    assert scoring.job is not None and scoring.job.status == Job.Status.SUCCEEDED
    download_url = reverse("training:scoring_download", args=[experiment.slug, scoring.pk])
    assert staff_client.get(download_url).status_code == 403  # results need the permission
    staff_user.user_permissions.add(Permission.objects.get(codename="export_experiment"))
    download = staff_client.get(download_url)
    assert isinstance(download, StreamingHttpResponse)
    text = download.getvalue().decode()  # its streamed content joined
    assert text.startswith("path,track_id,predicted_mos,error,engine,model_run,code_version")
    assert len(text.strip().splitlines()) == 3
    outside = staff_client.post(url, {"source": "/etc", "device": "cpu"}, follow=True)
    assert "outside the folders the app may read" in outside.text
    scoring.delete()


def test_models_csv_holds_each_runs_metrics(trained: tuple[Experiment, ModelRun, str]) -> None:
    experiment, run, _ = trained
    rows = list(csv.DictReader(io.StringIO(export_one(experiment, "models.csv"))))
    assert len(rows) == 1 and rows[0]["run_id"] == str(run.pk)
    assert float(rows[0]["rmse_mean"]) == pytest.approx(run.summary["rmse"]["mean"])
    assert rows[0]["labels_fingerprint"] == run.labels_fingerprint
    assert rows[0]["code_version"] == run.code_version


def test_scoring_the_experiments_own_tracks_reports_each_unreadable_one(
    trained: tuple[Experiment, ModelRun, str],
    staff_client: Client,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The factory's tracks point at files that do not exist: every row says why. A
    track's name as uploaded is neutralised where a spreadsheet would run it."""
    experiment, run, _ = trained
    track = experiment.tracks.order_by("pk").first()
    assert track is not None
    track.original_name, track.source_kind = "=HYPERLINK(1).wav", "upload"
    track.save(update_fields=["original_name", "source_kind"])
    url = reverse("training:scoring_start", args=[experiment.slug, run.pk])
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"source": "", "device": "cpu"})
    scoring = ScoringRun.objects.get(run=run, source="")
    assert (scoring.status, scoring.n_files, scoring.n_scored, scoring.n_failed) == (
        "succeeded",
        18,
        0,
        18,
    )
    rows = list(csv.DictReader(io.StringIO(scoring.output.read().decode())))
    track_ids = set(experiment.tracks.values_list("pk", flat=True))
    assert {int(r["track_id"]) for r in rows} == track_ids
    assert all(r["error"] and r["predicted_mos"] == "" for r in rows)
    named = next(r for r in rows if r["track_id"] == str(track.pk))
    assert named["path"] == "'=HYPERLINK(1).wav"
    scoring.delete()


def test_admin_lists_runs_with_their_folds(
    trained: tuple[Experiment, ModelRun, str], admin_client: Client
) -> None:
    _, run, _ = trained
    assert admin_client.get(reverse("admin:training_modelrun_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:training_modelrun_change", args=[run.pk]))
    assert page.status_code == 200 and "fold" in page.text.lower()
    assert admin_client.get(reverse("admin:training_scoringrun_changelist")).status_code == 200


def test_a_run_page_makes_the_same_queries_for_any_number_of_folds_and_scorings(
    staff_client: Client,
) -> None:
    """A run's page reads its run, folds and scorings in a fixed number of queries, and
    its fold predictions (620 rows per fold on Vinylset) never one by one."""
    from django.db import connection

    run = ModelRunFactory()
    assert run.experiment is not None
    url = reverse("training:run_detail", args=[run.experiment.slug, run.pk])
    staff_client.get(url)  # warm caches (session, user)
    with CaptureQueriesContext(connection) as bare:
        staff_client.get(url)
    predictions = [
        {"stimulus": i, "split": "test", "mos": 3.0, "label": 3.0, "raw": 3.1, "mapped": 3.05}
        for i in range(620)
    ]
    for index in range(3):
        run.folds.create(
            index=index,
            status="succeeded",
            metrics={"rmse": 0.3, "pcc": 0.5, "srcc": 0.45, "pra": 0.9, "pra_pairs": 400},
            predictions=predictions,
            history=[{"epoch": e, "train_loss": 0.5, "val_loss": 0.4} for e in range(60)],
        )
        run.scorings.create(source=f"/archive/{index}", status="succeeded", n_files=10)
    with CaptureQueriesContext(connection) as full:
        response = staff_client.get(url)
    assert response.status_code == 200 and response.text.count("/archive/") == 3
    assert len(full) == len(bare) <= 10, [q["sql"][:120] for q in full.captured_queries]
