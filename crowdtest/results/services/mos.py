"""MOS writes: the per-stimulus table computed from valid votes, and the whole refresh
(screen, compute, retire saturated sessions) that commands and the dashboard start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_create, job_start
from modeling.mos import mos_classes

from ..models import StimulusMOS
from ..selectors import stimulus_vote_stats
from .adaptive import RetirementReport, adaptive_retire
from .screening import ScreeningReport, experiment_screen

MOS_CLASSES = 15  # the paper's 15 classes that stratify the 3-fold split


@dataclass(frozen=True)
class MosReport:
    stimuli: int
    votes: int
    mean_ci95_normal: float | None

    def summary(self) -> str:
        ci = "n/a" if self.mean_ci95_normal is None else f"{2 * self.mean_ci95_normal:.3f}"
        return f"MOS of {self.stimuli} stimuli from {self.votes} valid votes; mean 95% CI {ci}"


def mos_compute(*, experiment: Experiment) -> MosReport:
    """Replace the experiment's computed MOS rows with what its valid votes say now.

    The statistics come from one aggregation query (`stimulus_vote_stats`); only the
    per-stimulus rows, never the votes, reach Python. Imported rows are left alone."""
    scored = [(s, s.mos) for s in stimulus_vote_stats(experiment=experiment) if s.mos is not None]
    groups = mos_groups([mos for _, mos in scored])
    now = timezone.now()
    rows = [
        StimulusMOS(
            experiment=experiment,
            stimulus_id=s.stimulus_id,
            source=StimulusMOS.Source.COMPUTED,
            mos=mos,
            std=s.std,
            n=s.n,
            ci95_normal=s.ci95_normal,
            ci95_t=s.ci95_t,
            mosgroup=group,
            votes_total=s.votes_total,
            computed_at=now,
        )
        for (s, mos), group in zip(scored, groups)
    ]
    with transaction.atomic():
        StimulusMOS.objects.filter(
            experiment=experiment, source=StimulusMOS.Source.COMPUTED
        ).delete()
        StimulusMOS.objects.bulk_create(rows, batch_size=2000)
    cis = [s.ci95_normal for s, _ in scored if s.ci95_normal is not None]
    return MosReport(
        stimuli=len(rows),
        votes=sum(s.n for s, _ in scored),
        mean_ci95_normal=float(np.mean(cis)) if cis else None,
    )


def mos_groups(mos: list[float]) -> list[str]:
    """Q1..Q15 (`mos_classes`, pandas qcut); ties that make edges equal merge classes,
    so a small or tied table gets fewer classes instead of none."""
    if not mos:
        return []
    return mos_classes(mos, MOS_CLASSES, duplicates="drop")


@dataclass(frozen=True)
class RefreshReport:
    screening: ScreeningReport
    mos: MosReport
    retirement: RetirementReport | None

    def summary(self) -> str:
        parts = [self.screening.summary(), self.mos.summary()]
        if self.retirement is not None:
            parts.append(self.retirement.summary())
        return ". ".join(parts) + "."


def results_refresh(*, experiment: Experiment) -> RefreshReport:
    """Screen, compute the MOS table, and retire sessions that adaptive collection no
    longer needs (when the experiment sets a target CI width). Safe to run any time."""
    screening = experiment_screen(experiment=experiment)
    mos = mos_compute(experiment=experiment)
    retirement = None
    if experiment.config.target_ci_width is not None:
        retirement = adaptive_retire(experiment=experiment)
    return RefreshReport(screening=screening, mos=mos, retirement=retirement)


REFRESH_JOB = "refresh_results"


def results_refresh_start(*, experiment: Experiment, created_by: Any = None) -> Job:
    """Queue `results_refresh` as a job the dashboard can follow. A refresh already
    waiting or running is returned instead of a second one."""
    from ..tasks import refresh_results_task

    with transaction.atomic():
        running = (
            Job.objects.select_for_update()
            .filter(scope=experiment.job_scope, kind=REFRESH_JOB)
            .exclude(status__in=Job.FINISHED)
            .first()
        )
        if running is not None:
            return running
        job = job_create(
            kind=REFRESH_JOB, scope=experiment.job_scope, total=1, created_by=created_by
        )
        job_start(job_id=job.pk, message="screening, MOS, adaptive collection")
        enqueue(refresh_results_task, experiment_id=experiment.pk, job_id=job.pk)
    return job
