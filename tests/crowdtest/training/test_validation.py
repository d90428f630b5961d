"""A run is refused before anything is queued when its labels, audio, backbone or
settings can't work; what needs the worker's hardware fails the job at task start."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from pytest_django import DjangoCaptureOnCommitCallbacks

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.models import Job
from crowdtest.results.models import StimulusMOS
from crowdtest.training.labels import stratification_classes
from crowdtest.training.models import ModelRun
from crowdtest.training.services import TrainingError, run_start
from tests.factories import ExperimentFactory, StimulusFactory

pytestmark = pytest.mark.django_db
MakeExperiment = Callable[..., Experiment]


def start(experiment: Experiment, backbone: Path, **kwargs: Any) -> ModelRun:
    return run_start(
        experiment=experiment, backbone=str(backbone), max_epochs=1, device="cpu", **kwargs
    )


def test_an_experiment_without_labels_is_refused(tiny_backbone: Path) -> None:
    experiment = ExperimentFactory()
    with pytest.raises(TrainingError, match="has no MOS labels yet"):
        start(experiment, tiny_backbone)
    assert not ModelRun.objects.filter(experiment=experiment).exists()
    assert not Job.objects.filter(scope=experiment.job_scope).exists()


def test_labels_without_ci_are_refused_for_pra_but_not_for_a_final_model(
    make_experiment: MakeExperiment, tiny_backbone: Path
) -> None:
    experiment = make_experiment(8)
    row = StimulusMOS.objects.filter(experiment=experiment).first()
    assert row is not None
    StimulusMOS.objects.filter(pk=row.pk).update(ci95_normal=None)
    with pytest.raises(TrainingError, match=rf"95% CI.*stimuli {row.stimulus_id} \("):
        start(experiment, tiny_backbone)
    run = start(experiment, tiny_backbone, kind=ModelRun.Kind.FINAL)
    assert run.status == ModelRun.Status.QUEUED and run.n_items == 8


@pytest.mark.parametrize("mos", [0.5, 5.5, math.nan])
def test_missing_nan_or_out_of_range_mos_is_refused(
    make_experiment: MakeExperiment, tiny_backbone: Path, mos: float
) -> None:
    experiment = make_experiment(8)
    row = StimulusMOS.objects.filter(experiment=experiment).last()
    assert row is not None
    row.mos = mos
    try:
        row.save(update_fields=["mos"])
    except Exception:  # SQLite stores NaN as NULL, which the column refuses
        pytest.skip("this database cannot hold a NaN MOS")
    with pytest.raises(
        TrainingError, match=rf"out-of-range \(1..5\) MOS for stimuli {row.stimulus_id}"
    ):
        start(experiment, tiny_backbone)


def test_fewer_stimuli_than_the_folds_need_are_refused(
    make_experiment: MakeExperiment, tiny_backbone: Path
) -> None:
    with pytest.raises(TrainingError, match="5 labelled stimuli are too few for 3 folds"):
        start(make_experiment(5), tiny_backbone)
    with pytest.raises(TrainingError, match="at least 2 folds"):
        start(make_experiment(8), tiny_backbone, folds=1)


def test_stimuli_without_a_master_or_with_unreadable_audio_are_refused(
    make_experiment: MakeExperiment, tiny_backbone: Path
) -> None:
    experiment = make_experiment(8)
    label = StimulusMOS.objects.filter(experiment=experiment).first()
    assert label is not None
    stimulus = label.stimulus
    stimulus.master.save("broken.flac", ContentFile(b"this is not audio" * 10))
    with pytest.raises(TrainingError, match=f"Unreadable master audio: stimulus {stimulus.pk}"):
        start(experiment, tiny_backbone)
    stimulus.master = ""
    stimulus.save(update_fields=["master"])
    with pytest.raises(TrainingError, match=rf"without a master audio file .*{stimulus.pk} \("):
        start(experiment, tiny_backbone)


def test_a_checkpoint_that_is_not_wav2vec2_is_refused(
    make_experiment: MakeExperiment, tmp_path: Path
) -> None:
    experiment = make_experiment(8)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(TrainingError, match=r"is a 'bert' checkpoint, not a wav2vec 2\.0 one"):
        start(experiment, bert)
    with pytest.raises(TrainingError, match="is not a checkpoint folder"):
        start(experiment, tmp_path / "nowhere")
    with pytest.raises(TrainingError, match="can't be read"):
        start(experiment, tmp_path)  # a folder without a config.json


def test_a_gpu_asked_for_where_there_is_none_is_refused_before_queueing(
    make_experiment: MakeExperiment, tiny_backbone: Path
) -> None:
    experiment = make_experiment(8)
    with pytest.raises(TrainingError, match="no CUDA GPU is available"):
        run_start(experiment=experiment, backbone=str(tiny_backbone), device="cuda")
    assert not ModelRun.objects.filter(experiment=experiment).exists()


def test_a_worker_without_a_gpu_fails_the_job_at_task_start(
    make_experiment: MakeExperiment,
    tiny_backbone: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """With workers, the web server can't know their hardware: the task checks it."""
    monkeypatch.setattr("crowdtest.training.services.runs.uses_workers", lambda: True)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_start(experiment=make_experiment(8), backbone=str(tiny_backbone), device="cuda")
    run.refresh_from_db()
    assert run.status == ModelRun.Status.FAILED and "no CUDA GPU is available" in run.error
    assert run.job is not None and run.job.status == Job.Status.FAILED
    assert "no CUDA GPU" in run.job.error
    assert run.folds.get(index=0).status == ModelRun.Status.FAILED


def test_stratification_uses_the_papers_15_classes_when_every_one_fills_the_folds() -> None:
    many = [1 + 4 * i / 619 for i in range(620)]
    assert stratification_classes(many, k=3)[1] == 15
    classes, n = stratification_classes(many[:18], k=3)
    assert n == 6 and min(classes.count(c) for c in set(classes)) >= 3


def test_a_placeholder_stimulus_of_a_label_without_audio_is_named(
    make_experiment: MakeExperiment, tiny_backbone: Path
) -> None:
    experiment = make_experiment(8)
    placeholder = StimulusFactory(track__experiment=experiment, status="failed")
    assert placeholder.prepared_at is not None
    StimulusMOS.objects.create(
        experiment=experiment,
        stimulus=placeholder,
        source="imported",
        mos=3.0,
        ci95_normal=0.3,
        computed_at=placeholder.prepared_at,
    )
    with pytest.raises(TrainingError, match=f"without a master audio file.*{placeholder.pk}"):
        start(experiment, tiny_backbone)


def test_the_random_label_control_is_recorded_and_named_as_in_table_1(
    make_experiment: MakeExperiment, tiny_backbone: Path
) -> None:
    # The folds' tasks are queued on commit, which a test's transaction never reaches.
    run = start(make_experiment(8), tiny_backbone, random_labels=True, seed=7)
    assert run.config["cv"] == {"k": 3, "seed": 7, "mapping_fit": "test", "random_labels": True}
    assert run.config["train"]["seed"] == 7 and run.name == "w2vMOS Rand. Labels"
    assert run.job is not None and run.job.total == 3
    assert list(run.folds.values_list("index", "sent")) == [(0, True), (1, False), (2, False)]


def test_resume_refuses_settings_it_would_ignore() -> None:
    from django.core.management import CommandError, call_command

    experiment = ExperimentFactory()
    with pytest.raises(CommandError, match=r"--folds, --max-epochs can't change them"):
        call_command(
            "train_w2vmos", experiment.slug, "--resume", "1", "--folds", "5", "--max-epochs", "3"
        )
    with pytest.raises(CommandError, match=f"No run 1 in {experiment.slug}"):
        call_command("train_w2vmos", experiment.slug, "--resume", "1", "--device", "cpu")
