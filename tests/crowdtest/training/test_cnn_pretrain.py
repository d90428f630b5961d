"""`pretrain_cnn` on a tiny folder of unlabeled music, its product fine-tuned by
`train_w2vmos --model convmaxpool_... --pretrained`, and every wrong pairing refused
before anything is queued."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoDbBlocker

from crowdtest.corpus.models import Experiment
from crowdtest.exports import export_one
from crowdtest.jobs.models import Job
from crowdtest.training.forms import RunStartForm
from crowdtest.training.models import ModelRun
from crowdtest.training.services import TrainingError, run_resume, run_start

from .conftest import labelled_experiment, write_wavs

pytestmark = pytest.mark.django_db(transaction=True)
TINY = ["--seconds", "1", "--segments-per-file", "6", "--batch-size", "8", "--device", "cpu"]
FAST = ["--device", "cpu", "--max-epochs", "1", "--batch-size", "8"]


@pytest.fixture(scope="module")
def products(
    tmp_path_factory: pytest.TempPathFactory,
    django_db_setup: Any,
    django_db_blocker: DjangoDbBlocker,
) -> Iterator[dict[str, tuple[Path, str]]]:
    """An autoencoder and a DCEC product made through the command."""
    root = tmp_path_factory.mktemp("cnn")
    music = root / "music"
    write_wavs(music, 4, seconds=1.0)
    (music / "broken.wav").write_bytes(b"RIFF????WAVEfmt nothing")
    made = {}
    with django_db_blocker.unblock():
        for method, extra in (
            ("autoencoder", ["--epochs", "2"]),
            ("degradation", ["--epochs", "1", "--val-share", "0.25"]),
            ("dcec", ["--ae-epochs", "1", "--epochs", "2", "--clusters", "3", "--embed-dim", "4"]),
        ):
            out = io.StringIO()
            call_command(
                "pretrain_cnn", method, str(music), str(root / method), *TINY, *extra, stdout=out
            )
            made[method] = (root / method, out.getvalue())
        yield made
        ModelRun.objects.filter(kind=ModelRun.Kind.PRETRAIN).delete()
        Job.objects.filter(kind="pretrain_cnn").delete()


def _nothing_queued(experiment: Experiment) -> bool:
    return (
        not ModelRun.objects.filter(experiment=experiment).exists()
        and not Job.objects.filter(scope=experiment.job_scope).exists()
    )


def test_a_pretraining_is_a_run_with_progress_per_epoch(
    products: dict[str, tuple[Path, str]],
) -> None:
    folder, output = products["dcec"]
    run = ModelRun.objects.get(kind=ModelRun.Kind.PRETRAIN, folder=str(folder))
    assert run.status == ModelRun.Status.SUCCEEDED and run.experiment is None
    assert run.config["pretrain_cnn"]["method"] == "dcec" and run.n_items == 5
    assert run.summary["epochs"] == 3 and run.summary["items"] == 4 * 6
    assert run.summary["n_skipped"] == 1 and "broken.wav" in run.summary["skipped"][0][0]
    assert run.job is not None and (run.job.done, run.job.total) == (3, 3)
    assert "clustering epoch 3/3" in run.job.message or "CNN in" in run.job.message
    assert (folder / "cnn" / "pretrained.json").is_file()
    assert run.name == "ConvMaxPool CNN, dcec pre-training"
    assert "--model convmaxpool_dcec or convmaxpool_dcec_mtl --pretrained" in output

    # The degradation classifier makes its set first, one step of its job.
    folder, output = products["degradation"]
    degr = ModelRun.objects.get(kind=ModelRun.Kind.PRETRAIN, folder=str(folder))
    assert degr.status == ModelRun.Status.SUCCEEDED
    assert degr.summary["items"] == 4 * 6 and degr.summary["val_accuracy"] is not None
    assert degr.job is not None and (degr.job.done, degr.job.total) == (2, 2)  # set + 1 epoch
    assert len((folder / "degraded" / "degraded.csv").read_text().splitlines()) == 1 + 24
    assert "held-out accuracy" in output and "--model convmaxpool_degr --pretrained" in output


@pytest.mark.parametrize(
    ("model", "method"),
    [
        ("convmaxpool_ae", "autoencoder"),
        ("convmaxpool_degr", "degradation"),
        ("convmaxpool_dcec_mtl", "dcec"),
    ],
)
def test_a_product_is_fine_tuned_through_the_same_folds(
    products: dict[str, tuple[Path, str]], model: str, method: str
) -> None:
    experiment = labelled_experiment(12, slug=f"from-{method}")
    out = io.StringIO()
    call_command(
        "train_w2vmos",
        experiment.slug,
        "--model",
        model,
        "--pretrained",
        str(products[method][0]),
        *FAST,
        stdout=out,
    )
    run = ModelRun.objects.get(experiment=experiment)
    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    name = {
        "convmaxpool_ae": "ConvMaxPool Autoencoder",
        "convmaxpool_degr": "ConvMaxPool Degr. Class.",
        "convmaxpool_dcec_mtl": "ConvMaxPool DCEC MTL",
    }
    assert run.name == name[model] and f"{run.name} (run {run.pk}): RMSE" in output_of(out)
    assert f"{run.name} (paper, Vinylset)" in output_of(out)
    assert run.config["model"]["pretrained"] == str(products[method][0] / "cnn")
    train = run.config["train"]
    assert (train["loss"], train["lr_backbone"], train["lr_head"]) == ("l1", 1e-4, 1e-3)
    assert [f.status for f in run.folds.all()] == ["succeeded"] * 3
    assert set(run.summary) >= {"rmse", "pcc", "srcc", "pra"}
    (row,) = csv.DictReader(io.StringIO(export_one(experiment, "models.csv")))
    assert (row["model"], row["pretrained"]) == (run.name, str(products[method][0] / "cnn"))


def output_of(out: io.StringIO) -> str:
    return out.getvalue()


@pytest.mark.parametrize(
    ("model", "method", "message"),
    [
        (
            "convmaxpool_dcec",
            "autoencoder",
            "is an autoencoder pre-training; ConvMaxPool DCEC starts",
        ),
        ("convmaxpool_degr", "dcec", "is a DCEC pre-training; ConvMaxPool Degr. Class. starts"),
        ("convmaxpool_dcec", None, "is fine-tuned from a dcec pre-training: give its output"),
        ("convmaxpool", "dcec", "ConvMaxPool starts from a random initialisation"),
        ("w2vmos", "dcec", "a pre-trained CNN is for the pre-trained ConvMaxPools"),
    ],
)
def test_a_wrong_product_is_refused_before_anything_is_queued(
    products: dict[str, tuple[Path, str]], model: str, method: str | None, message: str
) -> None:
    experiment = labelled_experiment(6, slug="wrong-product")
    pretrained = str(products[method][0]) if method else None
    with pytest.raises(TrainingError, match=message.replace(".", r"\.")):
        run_start(experiment=experiment, model=model, pretrained=pretrained, device="cpu")
    assert _nothing_queued(experiment)


def test_the_command_and_the_form_refuse_a_missing_or_unfinished_product(
    tmp_path: Path, staff_client: Client
) -> None:
    experiment = labelled_experiment(6, slug="no-product")
    with pytest.raises(CommandError, match="is not a finished CNN pre-training"):
        call_command(
            "train_w2vmos",
            experiment.slug,
            "--model",
            "convmaxpool_ae",
            "--pretrained",
            str(tmp_path),
            *FAST,
        )
    data = {"kind": "crossval", "folds": 3, "max_epochs": 1, "patience": 20, "seed": 0}
    data |= {"device": "cpu", "backbone": "", "model": "convmaxpool_dcec_mtl"}
    form = RunStartForm(data)
    assert not form.is_valid() and "starts from a dcec pre-training" in str(form.errors)
    page = staff_client.post(
        reverse("training:run_list", args=[experiment.slug]), {**data, "pretrained": str(tmp_path)}
    )
    assert page.status_code == 200 and "is not a finished CNN pre-training" in page.text
    # The refusal is summed up where the page comes back scrolled to: the form's top.
    summary = page.text.split('action="#start-run"')[1].split('role="alert">')[1]
    assert summary.split("</ul>")[0].count("is not a finished CNN pre-training") == 1
    no_product = staff_client.post(reverse("training:run_list", args=[experiment.slug]), data)
    assert '<a href="#id_pretrained">Pretrained</a>: ConvMaxPool DCEC MTL starts from a dcec' in (
        no_product.text
    )
    assert _nothing_queued(experiment)


def test_pretrain_cnn_refuses_too_little_music(tmp_path: Path) -> None:
    write_wavs(tmp_path / "one", 1)
    with pytest.raises(CommandError, match="holds 1 audio file"):
        call_command("pretrain_cnn", "dcec", str(tmp_path / "one"), str(tmp_path / "out"))
    with pytest.raises(CommandError, match="clusters >= 2"):
        call_command(
            "pretrain_cnn", "dcec", str(tmp_path / "one"), str(tmp_path / "out"), "--clusters", "1"
        )
    assert not ModelRun.objects.filter(kind=ModelRun.Kind.PRETRAIN).exists()


def test_a_failed_pretraining_resumes_with_its_own_job(tmp_path: Path) -> None:
    music = tmp_path / "music"
    write_wavs(music, 3, seconds=1.0)
    (tmp_path / "out").mkdir()
    # Another run's config in the folder: the task fails without training.
    (tmp_path / "out" / "config.json").write_text('{"pretrain_cnn": {}, "files": []}')
    with pytest.raises(CommandError, match="holds another pre-training run"):
        call_command(
            "pretrain_cnn",
            "autoencoder",
            str(music),
            str(tmp_path / "out"),
            *TINY,
            "--epochs",
            "1",
            stdout=io.StringIO(),
        )
    run = ModelRun.objects.get(kind=ModelRun.Kind.PRETRAIN)
    assert run.status == ModelRun.Status.FAILED
    (tmp_path / "out" / "config.json").unlink()
    run_resume(run=run)
    run.refresh_from_db()
    assert run.status == ModelRun.Status.SUCCEEDED and run.summary["epochs"] == 1
    assert run.job is not None and run.job.kind == "pretrain_cnn" and run.job.total == 1
