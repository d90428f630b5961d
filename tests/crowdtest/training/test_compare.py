"""`compare_models`: every model over the same folds, tabled beside the paper; one
refusal queues nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.models import Job
from crowdtest.training.models import ModelRun
from crowdtest.training.services import comparison_models
from modeling.baselines.pretrain import CNNPretrainConfig, pretrain_cnn

from .conftest import labelled_experiment, write_wavs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dcec_product(tmp_path: Path) -> Path:
    music = write_wavs(tmp_path / "music", 3)
    config = CNNPretrainConfig(
        method="dcec",
        ae_epochs=1,
        epochs=1,
        clusters=2,
        embed_dim=4,
        seconds=1.0,
        segments_per_file=4,
        batch_size=8,
        device="cpu",
    )
    pretrain_cnn(music, config=config, out_dir=tmp_path / "dcec")
    return tmp_path / "dcec"


def _nothing_queued(experiment: Experiment) -> bool:
    return (
        not ModelRun.objects.filter(experiment=experiment).exists()
        and not Job.objects.filter(scope=experiment.job_scope).exists()
    )


def test_every_model_runs_over_the_same_folds(
    dcec_product: Path,
    tiny_backbone: Path,
    staff_client: Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    experiment = labelled_experiment(12, slug="compare")
    out = io.StringIO()
    models = "convmaxpool,nisqa_l1,convmaxpool_dcec_mtl,w2vmos_random"
    call_command(
        "compare_models",
        experiment.slug,
        "--models",
        models,
        "--backbone",
        str(tiny_backbone),
        "--dcec",
        str(dcec_product),
        "--device",
        "cpu",
        "--max-epochs",
        "1",
        "--seed",
        "3",
        stdout=out,
    )
    runs = list(ModelRun.objects.filter(experiment=experiment).order_by("pk"))
    assert [r.name for r in runs] == [
        "ConvMaxPool",
        "NISQA (L1 loss)",
        "ConvMaxPool DCEC MTL",
        "w2vMOS Rand. Labels",
    ]
    assert all(r.status == ModelRun.Status.SUCCEEDED for r in runs), [r.error for r in runs]
    assert {r.config["cv"]["seed"] for r in runs} == {3}
    assert [r.config["train"]["batch_size"] for r in runs] == [16, 40, 16, 4]  # each its own

    def test_sets(run: ModelRun) -> list[set[int]]:
        return [
            {p["stimulus"] for p in fold.predictions if p["split"] == "test"}
            for fold in run.folds.order_by("index")
        ]

    assert test_sets(runs[0]) == test_sets(runs[1]) == test_sets(runs[2]) == test_sets(runs[3])
    text, bars = out.getvalue(), capsys.readouterr().err
    for run in runs:
        assert f"{run.name} (run {run.pk})" in text
        assert f"{run.name} (run {run.pk}): 100%" in bars  # each progress bar names its run
    assert "ConvMaxPool DCEC MTL (paper, Vinylset)" in text and "85.32 ± 2.49" in text
    # 12 stimuli over 3 folds test on 2 each: every run says so, here and on the tab.
    assert f"ConvMaxPool (run {runs[0].pk}): 3 folds, about 2 test stimuli each." in text
    assert text.count("Too few to compare") == len(runs)

    # The Models tab: each run beside the paper's figures for its model, and its PRA plot.
    page = staff_client.get(reverse("training:run_list", args=[experiment.slug]))
    assert page.status_code == 200
    cells = page.text.replace('<span class="nowrap">', "").replace("</span>", "")
    assert "0.32 ± 0.009 · 0.36 ± 0.058 · 0.30 ± 0.097 · 77.19 ± 4.33" in cells
    assert "0.31 ± 0.011 · 0.39 ± 0.064 · 0.34 ± 0.080 · 85.32 ± 2.49" in cells
    assert "0.34 ± 0.007 · 0.19 ± 0.068 · 0.11 ± 0.067 · 66.13 ± 8.32" in cells
    assert page.text.count("Too few to compare: PCC, SRCC and PRA on about 2 stimuli") == len(runs)
    for run in runs:
        plot = reverse("training:run_plot", args=[experiment.slug, run.pk, "pra"])
        assert plot in page.text
        png = staff_client.get(plot)
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_a_refusal_queues_none_of_the_models(dcec_product: Path) -> None:
    experiment = labelled_experiment(6, slug="compare-refused")
    with pytest.raises(CommandError, match="convmaxpool_degr needs the product of a degradation"):
        call_command("compare_models", experiment.slug, "--models", "convmaxpool,convmaxpool_degr")
    with pytest.raises(CommandError, match="Unknown model"):
        call_command("compare_models", experiment.slug, "--models", "convmaxpool,resnet")
    # The second model's product is of another pre-training: the first is not queued either.
    with pytest.raises(CommandError, match=r"convmaxpool_ae: .* is a DCEC pre-training.*Nothing"):
        call_command(
            "compare_models",
            experiment.slug,
            "--models",
            "convmaxpool,convmaxpool_ae",
            "--autoencoder",
            str(dcec_product),
            "--device",
            "cpu",
        )
    # A model named twice, and a product no model asked for starts from, are named.
    with pytest.raises(CommandError, match="nisqa is named twice"):
        call_command("compare_models", experiment.slug, "--models", "nisqa,convmaxpool,nisqa")
    with pytest.raises(CommandError, match=r"starts from the dcec product.*convmaxpool_dcec"):
        call_command(
            "compare_models", experiment.slug, "--models", "nisqa", "--dcec", str(dcec_product)
        )
    assert _nothing_queued(experiment)


def test_by_default_w2vmos_is_left_out_when_its_backbone_cannot_be_read() -> None:
    # Tests run offline: the default backbone, a hub id, can't be fetched.
    experiment = labelled_experiment(6, slug="compare-offline")
    err = io.StringIO()
    call_command(
        "compare_models",
        experiment.slug,
        "--max-epochs",
        "1",
        "--folds",
        "2",
        "--device",
        "cpu",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert "w2vMOS left out: The backbone 'facebook/wav2vec2-base' can't be read" in err.getvalue()
    runs = ModelRun.objects.filter(experiment=experiment).order_by("pk")
    assert [r.name for r in runs] == ["NISQA (default)", "NISQA (L1 loss)", "ConvMaxPool"]
    # Given, a backbone that can't be read is refused, and nothing more is queued.
    with pytest.raises(CommandError, match=r"w2vmos: The backbone /nowhere is not a.*Nothing"):
        call_command("compare_models", experiment.slug, "--backbone", "/nowhere")
    assert runs.count() == 3


def test_by_default_every_model_that_can_run() -> None:
    assert comparison_models(pretrained={}) == [
        "w2vmos",
        "nisqa",
        "nisqa_l1",
        "convmaxpool",
        "w2vmos_random",
    ]
    with_dcec = comparison_models(pretrained={"dcec": "/x"})
    assert "convmaxpool_dcec" in with_dcec and "convmaxpool_dcec_mtl" in with_dcec
    assert "convmaxpool_ae" not in with_dcec
