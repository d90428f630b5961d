"""The stratified 3-fold train/validation/test scheme on Vinylset's own labels."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from modeling.folds import stratified_folds
from modeling.metrics import pra_tau

# The published Vinylset labels, kept in the repository for tests that need no audio.
VINYLSET = Path(__file__).resolve().parents[1] / "data" / "vinylset_MOS.csv"


@pytest.fixture(scope="module")
def vinylset() -> dict[str, np.ndarray]:
    with VINYLSET.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        "mos": np.array([float(r["label"]) for r in rows]),
        "ci": np.array([float(r["CI"]) for r in rows]),
        "classes": np.array([r["mosgroup"] for r in rows]),
    }


def test_tau_on_all_vinylset_tracks_is_the_papers_mean_ci(vinylset: dict[str, np.ndarray]) -> None:
    assert pra_tau(vinylset["ci"]) == pytest.approx(0.867, abs=0.001)


def test_each_fold_is_67_16_16_and_disjoint(vinylset: dict[str, np.ndarray]) -> None:
    n = vinylset["classes"].size
    folds = stratified_folds(vinylset["classes"], k=3, seed=0)
    assert len(folds) == 3
    for fold in folds:
        train, val, test = (set(p.tolist()) for p in (fold.train, fold.val, fold.test))
        assert not (train & val or train & test or val & test)
        assert train | val | test == set(range(n))
        assert len(train) / n == pytest.approx(0.667, abs=0.01)
        assert len(val) / n == pytest.approx(0.167, abs=0.01)
        assert len(test) / n == pytest.approx(0.167, abs=0.01)


def test_held_out_thirds_partition_the_items(vinylset: dict[str, np.ndarray]) -> None:
    n = vinylset["classes"].size
    folds = stratified_folds(vinylset["classes"], k=3, seed=0)
    held_out = np.concatenate([np.concatenate([f.val, f.test]) for f in folds])
    assert sorted(held_out.tolist()) == list(range(n))  # each item held out exactly once
    tests = np.concatenate([f.test for f in folds])
    assert len(set(tests.tolist())) == tests.size  # tested at most once


def test_every_part_keeps_the_class_proportions(vinylset: dict[str, np.ndarray]) -> None:
    classes = vinylset["classes"]
    overall = Counter(classes.tolist())
    for fold in stratified_folds(classes, k=3, seed=0):
        for part, share in ((fold.train, 2 / 3), (fold.val, 1 / 6), (fold.test, 1 / 6)):
            counts = Counter(classes[part].tolist())
            for label, total in overall.items():
                assert abs(counts[label] - share * total) <= 1.0, (fold.index, label)
        # the MOS distributions of the parts look alike too
        means = [vinylset["mos"][p].mean() for p in (fold.train, fold.val, fold.test)]
        assert max(means) - min(means) < 0.03


def test_folds_are_deterministic_per_seed(vinylset: dict[str, np.ndarray]) -> None:
    a = stratified_folds(vinylset["classes"], seed=7)
    b = stratified_folds(vinylset["classes"], seed=7)
    c = stratified_folds(vinylset["classes"], seed=8)
    for x, y in zip(a, b):
        assert np.array_equal(x.train, y.train) and np.array_equal(x.test, y.test)
    assert not np.array_equal(a[0].test, c[0].test)


def test_too_small_classes_or_too_few_items_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Q2 \(2\)"):
        stratified_folds(["Q1"] * 5 + ["Q2"] * 2, k=3)
    with pytest.raises(ValueError, match="at least 6 items"):
        stratified_folds(["Q1"] * 5, k=3)
    with pytest.raises(ValueError, match="k >= 2"):
        stratified_folds(["Q1"] * 10, k=1)
