"""The paper's baselines as runs: a tiny cross-validation of each through
`train_w2vmos --model`, recorded, tabled beside the paper's rows and scored with like
w2vMOS; and the refusals before anything is queued."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoDbBlocker

from crowdtest.corpus.models import Experiment
from crowdtest.exports import export_one
from crowdtest.jobs.models import Job
from crowdtest.training.forms import RunStartForm
from crowdtest.training.models import ModelRun
from crowdtest.training.services import TrainingError, run_start
from modeling.w2vmos.config import train_config_for

from .conftest import labelled_experiment, write_wavs

pytestmark = pytest.mark.django_db
MakeExperiment = Callable[..., Experiment]
#: A few epochs with learning rates that move the networks on 1 s clips.
FAST = ["--device", "cpu", "--max-epochs", "2", "--batch-size", "8"]


@pytest.fixture(scope="module", params=["convmaxpool", "nisqa"])
def trained(
    request: pytest.FixtureRequest, django_db_setup: Any, django_db_blocker: DjangoDbBlocker
) -> Iterator[tuple[Experiment, ModelRun, str]]:
    with django_db_blocker.unblock():
        experiment = labelled_experiment(18, slug=f"cv-{request.param}")
        out = io.StringIO()
        call_command(
            "train_w2vmos",
            experiment.slug,
            "--model",
            request.param,
            *FAST,
            stdout=out,
            stderr=io.StringIO(),
        )
        run = ModelRun.objects.get(experiment=experiment)
        yield experiment, run, out.getvalue()
        Job.objects.filter(scope=experiment.job_scope).delete()
        experiment.delete()


def test_a_baseline_goes_through_the_same_folds_and_metrics(
    trained: tuple[Experiment, ModelRun, str],
) -> None:
    _, run, output = trained
    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    name = {"convmaxpool": "ConvMaxPool", "nisqa": "NISQA (default)"}[run.model_name]
    assert run.name == name and run.backbone == ""
    assert f"{name} (run {run.pk}): RMSE" in output and f"{name} (paper, Vinylset)" in output
    assert run.config["model"]["name"] == run.model_name
    train = run.config["train"]
    if run.model_name == "nisqa":  # NISQA's defaults: L2, one learning rate, its schedule
        assert (train["loss"], train["lr_backbone"], train["lr_head"]) == ("l2", 1e-3, 1e-3)
        assert train["lr_plateau_patience"] == 15 and "val MSE" in output
    else:  # the paper's §5
        assert (train["loss"], train["lr_backbone"], train["lr_head"]) == ("l1", 1e-4, 1e-3)
        assert train["lr_plateau_patience"] is None and "val L1" in output
    assert train["batch_size"] == 8 and train["max_epochs"] == 2
    assert set(run.summary) >= {"rmse", "pcc", "srcc", "pra", "tau"}
    folds = list(run.folds.order_by("index"))
    assert [f.status for f in folds] == ["succeeded"] * 3
    for fold in folds:
        assert (fold.n_train, fold.n_val, fold.n_test) == (12, 3, 3)
        assert [h["epoch"] for h in fold.history] == [1, 2] and "pra" in fold.metrics
        assert Path(fold.model_dir, "baseline.json").is_file()
    assert run.job is not None and (run.job.done, run.job.total) == (3, 3)


def test_the_models_tab_shows_the_run_beside_the_papers_table(
    trained: tuple[Experiment, ModelRun, str], staff_client: Client
) -> None:
    experiment, run, _ = trained
    page = staff_client.get(reverse("training:run_list", args=[experiment.slug]))
    assert page.status_code == 200
    assert f"{run.name} (run {run.pk})" in page.text
    for row in ("ConvMaxPool (paper", "NISQA (default) (paper", "NISQA (L1 loss) (paper"):
        assert row in page.text
    assert "0.32 ± 0.009" in page.text and "80.80 ± 10.88" in page.text
    detail = staff_client.get(reverse("training:run_detail", args=[experiment.slug, run.pk]))
    assert detail.status_code == 200 and "log-mel input" in detail.text
    # Its job's progress is named after the run, not after w2vMOS's training.
    assert f"<strong>{run.name}</strong>" in detail.text and "train_w2vmos" not in detail.text


def test_a_baseline_scores_an_archive(
    trained: tuple[Experiment, ModelRun, str], tmp_path: Path
) -> None:
    _, run, _ = trained
    archive = tmp_path / "archive"
    write_wavs(archive, 2)
    out = tmp_path / "quality.csv"
    call_command("predict_quality", str(run.pk), str(archive), str(out), stdout=io.StringIO())
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and all(0.0 < float(r["predicted_mos"]) < 6.0 for r in rows)


def test_models_csv_names_the_model_and_its_loss(
    trained: tuple[Experiment, ModelRun, str],
) -> None:
    experiment, run, _ = trained
    (row,) = csv.DictReader(io.StringIO(export_one(experiment, "models.csv")))
    assert (row["model"], row["loss"]) == (run.name, run.config["train"]["loss"])
    assert row["backbone"] == "" and row["batch_size"] == "8"


def _nothing_queued(experiment: Experiment) -> bool:
    return (
        not ModelRun.objects.filter(experiment=experiment).exists()
        and not Job.objects.filter(scope=experiment.job_scope).exists()
    )


def test_masters_too_short_for_one_mel_segment_are_refused(
    make_experiment: MakeExperiment,
) -> None:
    experiment = make_experiment(8, seconds=0.1)
    with pytest.raises(TrainingError, match=r"ConvMaxPool needs log-mel input of at least 0\.14 s"):
        run_start(experiment=experiment, model="convmaxpool", device="cpu")
    assert _nothing_queued(experiment)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": "convmaxpool", "backbone": "facebook/wav2vec2-base"}, "w2vMOS only"),
        ({"model": "resnet"}, "Unknown model 'resnet'"),
        ({"model": "nisqa_l1", "batch_size": 0}, "batch_size"),
    ],
)
def test_contradictory_settings_are_refused_before_anything_is_queued(
    make_experiment: MakeExperiment, settings: dict[str, Any], message: str
) -> None:
    experiment = make_experiment(8)
    with pytest.raises(TrainingError, match=message):
        run_start(experiment=experiment, device="cpu", **settings)
    assert _nothing_queued(experiment)


def test_the_command_refuses_a_backbone_for_a_baseline_and_a_new_model_on_resume(
    make_experiment: MakeExperiment,
) -> None:
    experiment = make_experiment(8)
    with pytest.raises(CommandError, match="w2vMOS only"):
        call_command("train_w2vmos", experiment.slug, "--model", "nisqa", "--backbone", "x", *FAST)
    with pytest.raises(CommandError, match="--model"):
        call_command("train_w2vmos", experiment.slug, "--resume", "1", "--model", "nisqa")
    assert _nothing_queued(experiment)


def test_the_start_form_drops_the_prefilled_backbone_for_a_baseline() -> None:
    data = {"kind": "crossval", "folds": 3, "max_epochs": 1, "patience": 20, "seed": 0}
    data |= {"device": "cpu", "backbone": "facebook/wav2vec2-base"}
    baseline = RunStartForm({**data, "model": "convmaxpool"})
    assert baseline.is_valid(), baseline.errors
    assert baseline.cleaned_data["backbone"] is None
    chosen = RunStartForm({**data, "model": "nisqa", "backbone": "/models/mine"})
    assert chosen.is_valid() and chosen.cleaned_data["backbone"] == "/models/mine"
    w2vmos = RunStartForm({**data, "model": "w2vmos", "backbone": ""})
    assert not w2vmos.is_valid() and "backbone" in w2vmos.errors


def test_an_empty_epoch_limit_on_the_start_form_is_the_models_own() -> None:
    data = {"kind": "crossval", "folds": 3, "max_epochs": "", "patience": 20, "seed": 0}
    form = RunStartForm({**data, "device": "cpu", "model": "nisqa"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["max_epochs"] is None
    assert train_config_for("nisqa", max_epochs=None).max_epochs == 500
    assert train_config_for("convmaxpool", max_epochs=None).max_epochs == 200
