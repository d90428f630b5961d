"""The labels a model run trains on: one row per stimulus of the experiment's MOS table
(its computed MOS where there is one, else the imported one), read and checked before
any task is queued, so that a run never starts on labels it cannot use."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.results.models import StimulusMOS
from crowdtest.results.selectors import mos_table
from modeling.mos import mos_classes

from .errors import TrainingError

#: The paper stratifies its folds on 15 MOS classes (Vinylset's `mosgroup` Q1..Q15).
MOS_CLASSES = 15
MOS_RANGE = (1.0, 5.0)


@dataclass(frozen=True)
class Label:
    """One labelled stimulus: its MOS, 95% CI half-width (normal, Vinylset's `CI`) and
    the MOS class its folds are stratified on."""

    stimulus_id: int
    mos_row_id: int
    mos: float
    ci: float | None
    mos_class: str

    def to_list(self) -> list[Any]:
        return [self.stimulus_id, self.mos_row_id, self.mos, self.ci, self.mos_class]

    @classmethod
    def from_list(cls, row: Sequence[Any]) -> Label:
        stimulus_id, mos_row_id, mos, ci, mos_class = row
        return cls(int(stimulus_id), int(mos_row_id), float(mos), ci, str(mos_class))


@dataclass(frozen=True)
class LabelSet:
    labels: list[Label]
    n_classes: int  # MOS classes the folds are stratified on
    fingerprint: str


def fingerprint(labels: Sequence[Label]) -> str:
    text = json.dumps([label.to_list() for label in labels], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _names(rows: Sequence[StimulusMOS], limit: int = 5) -> str:
    shown = ", ".join(f"{r.stimulus_id} ({r.stimulus.track.original_name})" for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def stratification_classes(mos: Sequence[float], *, k: int) -> tuple[list[str], int]:
    """Quantile MOS classes for k stratified folds: the paper's 15 when every class then
    has at least k members, else the largest number of classes that has (a small
    experiment cannot fill 15 classes x 3 folds)."""
    for n_classes in range(min(MOS_CLASSES, max(len(mos) // k, 1)), 0, -1):
        classes = mos_classes(mos, n_classes, duplicates="drop")
        if min(Counter(classes).values()) >= k:
            return classes, n_classes
    return mos_classes(mos, 1), 1


def run_labels(*, experiment: Experiment, k: int, need_ci: bool = True) -> LabelSet:
    """The experiment's labels for a run with `k` folds; TrainingError naming the
    stimuli when a label or its audio is unusable or when there are too few of them."""
    rows = list(mos_table(experiment=experiment))
    if not rows:
        raise TrainingError(
            f"{experiment.slug} has no MOS labels yet: compute them from the votes "
            "(compute_mos) or import Vinylset labels (import_vinylset) first."
        )
    low, high = MOS_RANGE
    bad_mos = [r for r in rows if not (math.isfinite(r.mos) and low <= r.mos <= high)]
    if bad_mos:
        raise TrainingError(
            f"Missing, NaN or out-of-range ({low:g}..{high:g}) MOS for stimuli {_names(bad_mos)}."
        )
    no_master = [
        r for r in rows if r.stimulus.status != Stimulus.Status.READY or not r.stimulus.master
    ]
    if no_master:
        raise TrainingError(
            f"Stimuli without a master audio file (prepare them first): {_names(no_master)}."
        )
    if need_ci:
        bad_ci = [
            r
            for r in rows
            if r.ci95_normal is None or not math.isfinite(r.ci95_normal) or r.ci95_normal < 0
        ]
        if bad_ci:
            raise TrainingError(
                "PRA needs every label's 95% CI, missing (fewer than 2 valid votes?) or NaN "
                f"for stimuli {_names(bad_ci)}."
            )
    if len(rows) < 2 * k:
        raise TrainingError(
            f"{len(rows)} labelled stimuli are too few for {k} folds: each fold needs a "
            f"validation and a test stimulus, so at least {2 * k}."
        )
    classes, n_classes = stratification_classes([r.mos for r in rows], k=k)
    labels = [
        Label(r.stimulus_id, r.pk, float(r.mos), r.ci95_normal, c) for r, c in zip(rows, classes)
    ]
    return LabelSet(labels, n_classes, fingerprint(labels))


def unreadable_masters(*, stimulus_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(stimulus, reason) of masters whose audio header can't be read or says it holds
    nothing, for masters on a local disk; remote ones (S3) are checked by the worker,
    which decodes every clip before its first epoch."""
    from modeling.w2vmos.data import audio_duration
    from modeling.w2vmos.errors import AudioReadError

    problems = []
    for stimulus in Stimulus.objects.filter(pk__in=stimulus_ids).only("pk", "master"):
        try:
            path = stimulus.master.path
        except NotImplementedError:
            continue
        try:
            if audio_duration(path) <= 0:
                problems.append((stimulus.pk, f"{path}: no audio samples"))
        except AudioReadError as exc:
            problems.append((stimulus.pk, str(exc)))
    return problems


def masters_too_short(*, stimulus_ids: Sequence[int], seconds: float) -> list[tuple[int, float]]:
    """(stimulus, length in s) of local masters shorter than `seconds` by their header
    (unreadable ones are `unreadable_masters`' to report; remote ones the worker's)."""
    from modeling.w2vmos.data import audio_duration
    from modeling.w2vmos.errors import AudioReadError

    short = []
    for stimulus in Stimulus.objects.filter(pk__in=stimulus_ids).only("pk", "master"):
        try:
            length = audio_duration(stimulus.master.path)
        except (NotImplementedError, AudioReadError):
            continue
        if length < seconds:
            short.append((stimulus.pk, length))
    return short
