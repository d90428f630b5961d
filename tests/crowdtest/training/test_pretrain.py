"""`pretrain_wav2vec2` on a tiny folder of unlabeled music, then its output folder as
the backbone `train_w2vmos --final` fine-tunes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crowdtest.training.models import ModelRun

from .conftest import FAST, labelled_experiment, save_tiny_backbone, write_wavs

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_pretrained_backbone_is_fine_tuned_by_train_w2vmos(tmp_path: Path) -> None:
    music = tmp_path / "unlabeled"
    write_wavs(music, 2, seconds=3.0)
    (music / "broken.wav").write_bytes(b"RIFF????WAVEfmt nothing")
    init = save_tiny_backbone(tmp_path / "init", pretraining=True)
    out = io.StringIO()
    call_command(
        "pretrain_wav2vec2",
        str(music),
        str(tmp_path / "pretrained"),
        "--init",
        str(init),
        *("--steps", "2", "--window-seconds", "2", "--hop-seconds", "1", "--batch-size", "2"),
        *("--warmup-steps", "1", "--save-every", "1", "--device", "cpu"),
        stdout=out,
        stderr=io.StringIO(),
    )
    run = ModelRun.objects.get(kind=ModelRun.Kind.PRETRAIN)
    assert run.status == ModelRun.Status.SUCCEEDED and run.experiment is None
    assert run.summary["steps"] == 2 and run.summary["segments"] == 4  # 2 files x 2 windows
    assert run.summary["n_skipped"] == 1 and "broken.wav" in run.summary["skipped"][0][0]
    assert (tmp_path / "pretrained" / "backbone" / "config.json").is_file()
    assert f"--backbone {tmp_path / 'pretrained'}" in out.getvalue()

    experiment = labelled_experiment(8, slug="after-pretraining")
    call_command(
        "train_w2vmos",
        experiment.slug,
        "--final",
        "--backbone",
        str(tmp_path / "pretrained"),
        "--max-epochs",
        "1",
        *FAST,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    final = ModelRun.objects.get(experiment=experiment)
    assert final.status == ModelRun.Status.SUCCEEDED and final.kind == ModelRun.Kind.FINAL
    assert final.config["model"]["backbone"] == str(tmp_path / "pretrained" / "backbone")


def test_pretraining_refuses_a_folder_without_audio(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="holds no audio files"):
        call_command("pretrain_wav2vec2", str(tmp_path / "empty"), str(tmp_path / "out"))
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("pretrain_wav2vec2", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert not ModelRun.objects.filter(kind=ModelRun.Kind.PRETRAIN).exists()


def test_train_w2vmos_reports_bad_input_as_a_command_error(tiny_backbone: Path) -> None:
    experiment = labelled_experiment(4, slug="too-few")
    with pytest.raises(CommandError, match="4 labelled stimuli are too few for 3 folds"):
        call_command("train_w2vmos", experiment.slug, "--backbone", str(tiny_backbone))
    with pytest.raises(CommandError, match="no CUDA GPU"):
        call_command(
            "train_w2vmos",
            experiment.slug,
            "--backbone",
            str(tiny_backbone),
            "--device",
            "cuda",
            "--folds",
            "2",
        )
    with pytest.raises(CommandError, match="No experiment 'nope'"):
        call_command("train_w2vmos", "nope")
    with pytest.raises(CommandError, match="No model run 999"):
        call_command("predict_quality", "999", "/tmp", "/tmp/out.csv")
