"""The whole protocol end to end on 18 synthetic clips: 3 folds, results JSON, resume,
and the random-label control."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TypedDict

import numpy as np
import pytest

from modeling.w2vmos.config import CVConfig, ModelConfig, TrainConfig, read_json
from modeling.w2vmos.crossval import CVProgress, random_labels, run_crossval
from modeling.w2vmos.data import ManifestItem
from modeling.w2vmos.errors import W2VMOSError

from .conftest import TINY_GROUP, ClipFactory, mos_for_noise


class _Settings(TypedDict):
    model_config: ModelConfig
    train_config: TrainConfig
    cv_config: CVConfig
    run_dir: Path


MODEL = ModelConfig(tiny_config=TINY_GROUP)
TRAIN = TrainConfig(lr_backbone=1e-3, lr_head=1e-2, max_epochs=2, patience=5, max_seconds=None)


@pytest.fixture
def items(make_clip: ClipFactory) -> list[ManifestItem]:
    """18 clips in 3 MOS classes of 6 (low, middle, high noise)."""
    levels = np.linspace(0.0, 0.3, 18)
    return [
        ManifestItem(
            path=make_clip(f"c{i:02d}.wav", noise=lv, seed=i),
            mos=mos_for_noise(lv, 0.3),
            ci=0.2,
            mos_class=f"Q{3 - i // 6}",
        )
        for i, lv in enumerate(levels)
    ]


def test_three_fold_crossval_writes_metrics_and_predictions(
    items: list[ManifestItem], tmp_path: Path
) -> None:
    seen: list[CVProgress] = []
    result = run_crossval(
        items,
        model_config=MODEL,
        train_config=TRAIN,
        cv_config=CVConfig(k=3, seed=0),
        run_dir=tmp_path / "cv",
        progress=seen.append,
    )
    assert not result.cancelled and len(result.folds) == 3
    assert [(p.fold, p.epoch.epoch) for p in seen] == [(f, e) for f in range(3) for e in (1, 2)]
    for fold in result.folds:
        assert (fold.n_train, fold.n_val, fold.n_test) == (12, 3, 3)
        assert fold.tau == pytest.approx(0.4)  # mean full CI width of the training set
        assert math.isfinite(fold.metrics["rmse"])
    assert set(result.summary) >= {"rmse", "pcc", "srcc", "pra", "tau"}

    saved = read_json(tmp_path / "cv" / "results.json")
    assert saved["code_version"] and saved["cv"]["k"] == 3
    predictions = saved["predictions"]
    assert sorted(p["index"] for p in predictions) == list(range(18))  # held out once each
    assert sum(p["split"] == "test" for p in predictions) == 9
    assert all(p["label_used"] == p["mos"] for p in predictions)

    # A finished cross-validation is not redone.
    again: list[CVProgress] = []
    rerun = run_crossval(
        items,
        model_config=MODEL,
        train_config=TRAIN,
        cv_config=CVConfig(k=3, seed=0),
        run_dir=tmp_path / "cv",
        progress=again.append,
    )
    assert not again and rerun.summary == result.summary


def test_random_label_control_trains_on_noise_and_is_scored_on_real_mos(
    items: list[ManifestItem], tmp_path: Path
) -> None:
    result = run_crossval(
        items,
        model_config=MODEL,
        train_config=TrainConfig(max_epochs=1, max_seconds=None),
        cv_config=CVConfig(k=3, seed=0, random_labels=True, mapping_fit="validation"),
        run_dir=tmp_path / "cv",
    )
    real = np.array([it.mos for it in items], dtype=float)
    drawn = random_labels(real, 0)
    assert drawn.mean() == pytest.approx(real.mean(), abs=0.6)
    predictions = read_json(tmp_path / "cv" / "results.json")["predictions"]
    for p in predictions:
        assert p["mos"] == pytest.approx(real[p["index"]])
        assert p["label_used"] == pytest.approx(drawn[p["index"]])
    assert np.array_equal(drawn, random_labels(real, 0))  # one seeded draw
    assert len(result.folds) == 3


def test_interrupted_crossval_keeps_finished_folds(
    items: list[ManifestItem], tmp_path: Path
) -> None:
    epochs: list[CVProgress] = []
    cut = run_crossval(
        items,
        model_config=MODEL,
        train_config=TrainConfig(max_epochs=1, max_seconds=None),
        cv_config=CVConfig(),
        run_dir=tmp_path / "cv",
        progress=epochs.append,
        should_stop=lambda: len(epochs) >= 1,  # stop once fold 0 has trained
    )
    assert cut.cancelled and [f.fold for f in cut.folds] == [0]
    resumed: list[CVProgress] = []
    done = run_crossval(
        items,
        model_config=MODEL,
        train_config=TrainConfig(max_epochs=1, max_seconds=None),
        cv_config=CVConfig(),
        run_dir=tmp_path / "cv",
        progress=resumed.append,
    )
    assert not done.cancelled and [p.fold for p in resumed] == [1, 2]


def test_bad_labels_are_refused_before_training(items: list[ManifestItem], tmp_path: Path) -> None:
    items[3] = ManifestItem(items[3].path, 7.0, 0.2, "Q3")
    with pytest.raises(W2VMOSError, match="MOS outside"):
        run_crossval(
            items,
            model_config=MODEL,
            train_config=TRAIN,
            cv_config=CVConfig(),
            run_dir=tmp_path / "cv",
        )
    assert not (tmp_path / "cv").exists()


def test_folds_run_one_at_a_time_and_the_summary_comes_with_the_last(
    items: list[ManifestItem], tmp_path: Path
) -> None:
    settings: _Settings = {
        "model_config": MODEL,
        "train_config": TrainConfig(max_epochs=1, max_seconds=None),
        "cv_config": CVConfig(),
        "run_dir": tmp_path / "cv",
    }
    seen: list[CVProgress] = []
    first = run_crossval(items, **settings, progress=seen.append, folds=[1])
    assert not first.complete and not first.cancelled and not first.summary
    assert [f.fold for f in first.folds] == [1] and [p.fold for p in seen] == [1]
    assert first.folds[0].history[0]["epoch"] == 1
    assert not (tmp_path / "cv" / "results.json").exists()

    gathered = run_crossval(items, **settings, folds=())
    assert not gathered.complete and [f.fold for f in gathered.folds] == [1]

    rest = run_crossval(items, **settings, progress=seen.append, folds=[0, 2])
    assert rest.complete and set(rest.summary) >= {"rmse", "pra"}
    assert [p.fold for p in seen] == [1, 0, 2]  # fold 1 was not trained again
    assert (tmp_path / "cv" / "results.json").exists()


def test_final_model_trains_on_all_but_a_stratified_validation_part(
    items: list[ManifestItem], tmp_path: Path
) -> None:
    from modeling.w2vmos.crossval import train_final

    result = train_final(
        items,
        model_config=MODEL,
        train_config=TrainConfig(max_epochs=1, max_seconds=None),
        cv_config=CVConfig(k=3),
        run_dir=tmp_path / "final",
    )
    config = read_json(tmp_path / "final" / "config.json")
    assert (config["data"]["n_train"], config["data"]["n_val"]) == (15, 3)
    assert result is not None and (result.n_train, result.n_val, result.n_test) == (15, 3, 0)
    assert (Path(result.model_dir) / "w2vmos.json").exists()

    unclassed = [ManifestItem(it.path, it.mos, it.ci, None) for it in items]
    with pytest.raises(W2VMOSError, match="MOS class"):
        train_final(
            unclassed,
            model_config=MODEL,
            train_config=TRAIN,
            cv_config=CVConfig(),
            run_dir=tmp_path / "other",
        )
