"""`import_checkpoint`: the paper's published fairseq checkpoints (tiny ones, in their real
layout) imported, fine-tuned as a backbone, and scoring an archive with the folds' mean."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django import Settings

from crowdtest.training.models import ModelRun, ScoringRun
from crowdtest.training.services import backbone_resolve
from modeling.w2vmos.config import ModelConfig
from modeling.w2vmos.data import load_audio_16k_mono
from modeling.w2vmos.model import build_model
from tests.crowdtest.training.conftest import write_wavs
from tests.modeling.w2vmos.fairseq_shapes import (
    SETTINGS,
    fairseq_state,
    qama_state,
    reference_last_layer,
    reference_mos,
    save_args_checkpoint,
    save_cfg_checkpoint,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs_root(settings: Settings, tmp_path: Path) -> Path:
    settings.MODEL_RUNS_ROOT = tmp_path / "model_runs"
    return Path(settings.MODEL_RUNS_ROOT)


@pytest.fixture
def published(tmp_path: Path) -> dict[str, Any]:
    """checkpoint_best.pt (cfg layout) and qama_fold1..3.pt (bare QAMA state dicts)."""
    folder = tmp_path / "published"
    folder.mkdir()
    pretrained = fairseq_state(SETTINGS, seed=10)
    save_cfg_checkpoint(folder / "checkpoint_best.pt", SETTINGS, pretrained)
    folds = []
    for i in range(3):
        state = qama_state(fairseq_state(SETTINGS, seed=20 + i), 32, seed=30 + i)
        torch.save(state, folder / f"qama_fold{i + 1}.pt")
        folds.append(state)
    return {"folder": folder, "pretrained": pretrained, "folds": folds}


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command("import_checkpoint", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_fold_checkpoints_score_an_archive_with_their_mean(
    published: dict[str, Any], runs_root: Path, tmp_path: Path
) -> None:
    folder = published["folder"]
    output = run_command(
        *(str(folder / f"qama_fold{i}.pt") for i in (1, 2, 3)),
        "--pretrained",
        str(folder / "checkpoint_best.pt"),
        "--name",
        "qama",
    )
    run = ModelRun.objects.get(kind=ModelRun.Kind.IMPORTED)
    assert run.path == runs_root / "imported" / "qama" and run.experiment is None
    assert run.config["sources"] == ["qama_fold1.pt", "qama_fold2.pt", "qama_fold3.pt"]
    assert run.config["settings_from"] == "checkpoint_best.pt"
    assert [f.model_dir for f in run.folds.all()] == [
        str(run.path / f"model-{i}") for i in (1, 2, 3)
    ]
    assert f"predict_quality {run.pk}" in output and "mean of its 3 models" in output

    archive = tmp_path / "archive"
    wavs = write_wavs(archive, 2, seconds=0.6)
    out = tmp_path / "scores.csv"
    stdout = io.StringIO()
    # fp32, so the mean is the folds' own to 2e-4 (an approximate engine may be 0.02 off).
    call_command(
        "predict_quality", str(run.pk), str(archive), str(out), "--device", "cpu",
        "--engine", "torch-fp32", stdout=stdout, stderr=io.StringIO(),
    )  # fmt: skip
    assert "2 of 2 files scored" in stdout.getvalue() and "mean of 3 models" in stdout.getvalue()
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    for wav in wavs:
        samples = torch.from_numpy(load_audio_16k_mono(wav, max_seconds=10.0))[None]
        expected = sum(float(reference_mos(s, SETTINGS, samples)) for s in published["folds"]) / 3
        assert float(rows[wav.name]["predicted_mos"]) == pytest.approx(expected, abs=2e-4)
    scoring = ScoringRun.objects.get(run=run)
    assert (scoring.status, scoring.n_scored, scoring.model_fold) == ("succeeded", 2, None)


def test_one_fine_tuned_model_scores_alone(published: dict[str, Any], runs_root: Path) -> None:
    folder = published["folder"]
    run_command(str(folder / "qama_fold2.pt"), "--pretrained", str(folder / "checkpoint_best.pt"))
    run = ModelRun.objects.get(kind=ModelRun.Kind.IMPORTED)
    assert run.path.name == "qama_fold2" and run.folds.count() == 1


@pytest.mark.parametrize("save", [save_cfg_checkpoint, save_args_checkpoint], ids=["cfg", "args"])
def test_pretrained_checkpoint_is_a_backbone_to_fine_tune(
    save: Any, runs_root: Path, tmp_path: Path
) -> None:
    state = fairseq_state(SETTINGS, seed=3)
    path = save(tmp_path / "checkpoint_best.pt", SETTINGS, state)
    output = run_command(str(path))
    run = ModelRun.objects.get(kind=ModelRun.Kind.IMPORTED)
    assert f"train_w2vmos SLUG --backbone {run.path}" in output
    # quantizer.vars and weight_proj, project_q, final_proj
    assert "7 pre-training or unused weights left out" in output
    assert not run.config["fine_tuned"] and run.folds.count() == 0
    backbone = backbone_resolve(str(run.path))
    assert backbone == str(run.path / "backbone")
    model = build_model(ModelConfig(backbone=backbone)).eval()
    wav = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        hidden, _ = model.frame_features(wav)
    torch.testing.assert_close(
        hidden.double(), reference_last_layer(state, SETTINGS, wav), atol=2e-5, rtol=1e-4
    )
    with pytest.raises(CommandError, match=r"no MOS head to score with.*train_w2vmos"):
        call_command("predict_quality", str(run.pk), str(tmp_path), str(tmp_path / "o.csv"))


def test_refusals_leave_nothing_behind(
    published: dict[str, Any], runs_root: Path, tmp_path: Path
) -> None:
    folder = published["folder"]
    with pytest.raises(CommandError, match=r"bare state dict.*checkpoint_best.pt"):
        run_command(str(folder / "qama_fold1.pt"))
    with pytest.raises(CommandError, match="not the same kind"):
        run_command(
            str(folder / "qama_fold1.pt"),
            str(folder / "checkpoint_best.pt"),
            "--pretrained",
            str(folder / "checkpoint_best.pt"),
        )
    with pytest.raises(CommandError, match="import it on its own"):
        run_command(str(folder / "checkpoint_best.pt"), str(folder / "qama_fold1.pt"))
    torch.save({"conv.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(CommandError, match=r"no wav2vec 2.0 weights"):
        run_command(str(tmp_path / "other.pt"))
    with pytest.raises(CommandError, match="can't name an import"):
        run_command(str(folder / "checkpoint_best.pt"), "--name", "../escape")
    assert not ModelRun.objects.exists()
    assert not list((runs_root / "imported").iterdir())

    run_command(str(folder / "checkpoint_best.pt"), "--name", "music")
    with pytest.raises(CommandError, match="'music' exists already"):
        run_command(str(folder / "checkpoint_best.pt"), "--name", "music")
    assert ModelRun.objects.count() == 1
