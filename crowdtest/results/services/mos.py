"""MOS writes: the per-stimulus table computed from valid votes, and the whole refresh
(screen, compute, retire saturated sessions) that commands and the dashboard start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from crowdtest.bulk import int_columns, values_insert
from crowdtest.corpus.models import Experiment
from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_create, job_start
from crowdtest.rating.models import AssignmentItem, Vote
from modeling.bias import SubjectModel, subject_model
from modeling.mos import mos_classes

from ..models import RaterEstimate, StimulusMOS
from ..selectors import stimulus_vote_stats
from .adaptive import RetirementReport, adaptive_retire
from .screening import ScreeningReport, ValidVotes, experiment_screen

MOS_CLASSES = 15  # the paper's 15 classes that stratify the 3-fold split
ESTIMATE_COLUMNS = (
    "rater_id",
    "experiment_id",
    "bias",
    "inconsistency",
    "votes",
    "computed_at",
)


@dataclass(frozen=True)
class MosReport:
    stimuli: int
    votes: int
    mean_ci95_normal: float | None

    def summary(self) -> str:
        ci = "n/a" if self.mean_ci95_normal is None else f"{2 * self.mean_ci95_normal:.3f}"
        return (
            f"MOS of {self.stimuli} stimuli from {self.votes} valid votes; mean 95% CI width {ci}"
        )


def mos_compute(*, experiment: Experiment, votes: ValidVotes | None = None) -> MosReport:
    """Replace the experiment's computed MOS rows with what its valid votes say now.

    The plain statistics come from one aggregation query (`stimulus_vote_stats`). Beside
    them, the P.913 subject model (`modeling.bias`) gives each stimulus a bias-corrected
    MOS with its CI and each rater a bias and inconsistency; it needs the valid votes
    themselves, which screening hands over as `votes` (else they are read here).
    Imported rows are left alone."""
    scored = [(s, s.mos) for s in stimulus_vote_stats(experiment=experiment) if s.mos is not None]
    groups = mos_groups([mos for _, mos in scored])
    model = _subject_model(experiment, votes)
    corrected: dict[int, tuple[float, float]] = {}
    if model is not None:
        corrected = {
            int(pk): (float(m), float(c)) for pk, m, c in zip(model.stimuli, model.mos, model.ci95)
        }
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
            mos_corrected=corrected.get(s.stimulus_id, (None, None))[0],
            ci95_corrected=corrected.get(s.stimulus_id, (None, None))[1],
            computed_at=now,
        )
        for (s, mos), group in zip(scored, groups)
    ]
    estimates: list[tuple[Any, ...]] = []
    if model is not None:
        estimates = [
            (int(pk), experiment.pk, float(b), float(v), int(n), now)
            for pk, b, v, n in zip(model.raters, model.bias, model.inconsistency, model.votes)
        ]
    with transaction.atomic():
        StimulusMOS.objects.filter(
            experiment=experiment, source=StimulusMOS.Source.COMPUTED
        ).delete()
        StimulusMOS.objects.bulk_create(rows, batch_size=2000)
        RaterEstimate.objects.filter(experiment=experiment).delete()
        values_insert(RaterEstimate, ESTIMATE_COLUMNS, estimates)
    cis = [s.ci95_normal for s, _ in scored if s.ci95_normal is not None]
    return MosReport(
        stimuli=len(rows),
        votes=sum(s.n for s, _ in scored),
        mean_ci95_normal=float(np.mean(cis)) if cis else None,
    )


def _subject_model(experiment: Experiment, votes: ValidVotes | None) -> SubjectModel | None:
    """The subject model over the valid rating votes; None with fewer than two raters
    (a bias is then not separable from quality)."""
    if votes is None:
        raters, stimuli, scores = int_columns(
            Vote.objects.filter(
                experiment=experiment,
                valid=True,
                phase=AssignmentItem.Phase.RATING,
                stimulus__isnull=False,
            ).order_by(),
            "rater_id",
            "stimulus_id",
            "score",
        )
        votes = ValidVotes(raters=raters, stimuli=stimuli, scores=scores)
    if np.unique(votes.raters).size < 2:
        return None
    return subject_model(votes.raters, votes.stimuli, votes.scores)


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
    mos = mos_compute(experiment=experiment, votes=screening.valid_votes)
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
