"""Stratified k-fold cross-validation with train/validation/test parts (paper §4.1).

The paper: "Using 3-fold stratified cross-validation and MOS classes 15, each fold is
divided into ≈67%, ≈16%, ≈16% for training, validation, and test sets". We read that as:

1. the items are split into k stratified thirds ("outer folds"), every class spread
   evenly over them;
2. fold f trains on the k - 1 other thirds (≈ 67% for k = 3) and splits its own held-out
   third in half, stratified again, into validation (≈ 16.7%) and test (≈ 16.7%).

Consequences, which the tests pin: within a fold train/val/test are disjoint and cover
every item; across folds the held-out thirds partition the items, so every item is
held out (validation or test) in exactly one fold, the test sets are pairwise disjoint,
and together they cover about half of the items (each item is tested at most once).

Stratification deals items round-robin: items are sorted by class (shuffled, seeded,
within a class) and the i-th item goes to third i mod k. Counting continues across
classes, so thirds differ in size by at most one overall and by at most one per class.
The validation/test halving of a third deals the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

IndexArray = NDArray[np.int64]


@dataclass(frozen=True)
class Fold:
    """Indices (into the labels given to `stratified_folds`) of one fold's parts."""

    index: int
    train: IndexArray
    val: IndexArray
    test: IndexArray


def _deal(order: IndexArray, parts: int) -> list[IndexArray]:
    """Deal an ordered index array round-robin into `parts` sorted index arrays."""
    return [np.sort(order[p::parts]) for p in range(parts)]


def _class_sorted_order(
    labels: Sequence[object], members: IndexArray, rng: np.random.Generator
) -> IndexArray:
    """`members` grouped by class (classes in sorted order), shuffled within each class."""
    by_class: dict[str, list[int]] = {}
    for idx in members:
        by_class.setdefault(str(labels[idx]), []).append(int(idx))
    order: list[int] = []
    for key in sorted(by_class, key=_natural_key):
        group = np.array(by_class[key], dtype=np.int64)
        order.extend(rng.permutation(group).tolist())
    return np.array(order, dtype=np.int64)


def _natural_key(label: str) -> tuple[str, int, str]:
    """Sort Q2 before Q10: split a trailing integer off the class label."""
    head = label.rstrip("0123456789")
    tail = label[len(head) :]
    return (head, int(tail) if tail else -1, label)


def stratified_folds(
    classes: Sequence[object] | NDArray[Any], *, k: int = 3, seed: int = 0
) -> list[Fold]:
    """Split items into k folds of (train, validation, test) index arrays, stratified by
    MOS class (Vinylset's `mosgroup` Q1..Q15, or `modeling.mos.mos_classes` for new data).

    Deterministic for a given `seed`. Raises ValueError when k < 2, when a class has
    fewer than k members (it could not appear in every held-out third), or when there
    are fewer than 2·k items (some fold would lack a validation or a test item)."""
    labels = [str(c) for c in np.asarray(classes, dtype=object).reshape(-1)]
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 folds, got k={k}")
    n = len(labels)
    if n < 2 * k:
        raise ValueError(
            f"{n} items are too few for {k} folds: each fold needs at least one validation "
            f"and one test item, so at least {2 * k} items"
        )
    counts = Counter(labels)
    small = sorted((c for c, m in counts.items() if m < k), key=_natural_key)
    if small:
        detail = ", ".join(f"{c} ({counts[c]})" for c in small)
        raise ValueError(
            f"MOS classes with fewer than k={k} members cannot be stratified over {k} folds: "
            f"{detail}; use fewer classes or fewer folds"
        )

    rng = np.random.default_rng(seed)
    everything = np.arange(n, dtype=np.int64)
    thirds = _deal(_class_sorted_order(labels, everything, rng), k)
    folds = []
    for f, held_out in enumerate(thirds):
        val, test = _deal(_class_sorted_order(labels, held_out, rng), 2)
        train = np.sort(np.concatenate([t for g, t in enumerate(thirds) if g != f]))
        folds.append(Fold(index=f, train=train, val=val, test=test))
    return folds
