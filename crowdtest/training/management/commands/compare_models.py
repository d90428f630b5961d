from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.jobs.dispatch import uses_workers
from crowdtest.training import selectors
from crowdtest.training.models import ModelRun
from crowdtest.training.services import (
    COMPARABLE,
    DEFAULT_BACKBONE,
    TrainingError,
    comparison_models,
    runs_compare,
)

METRICS = ("RMSE", "PCC", "SRCC", "PRA %")


class Command(ExperimentCommand):
    help = (
        "The paper's Table 1 and 2 on the experiment's labels: one cross-validation per "
        "model, every one over the same stratified folds and seed, queued on the gpu queue "
        "together (or, if any is refused, none), then their mean ± std over folds beside the "
        "paper's. Models: " + ", ".join(COMPARABLE) + " (w2vmos_random: w2vMOS on random "
        "labels). Default: every model that can run, the pre-trained ConvMaxPools when their "
        "pre-training's product is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--models", help="comma-separated, e.g. w2vmos,nisqa,convmaxpool")
        parser.add_argument("--backbone", help=f"w2vMOS's (default {DEFAULT_BACKBONE})")
        parser.add_argument("--autoencoder", help="pretrain_cnn autoencoder output folder")
        parser.add_argument("--degradation", help="pretrain_cnn degradation output folder")
        parser.add_argument("--dcec", help="pretrain_cnn dcec output folder")
        parser.add_argument("--folds", type=int, default=3)
        parser.add_argument("--max-epochs", type=int, help="default: each model's")
        parser.add_argument("--patience", type=int, default=20)
        parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the tasks and return (workers only)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        pretrained = {m: opts[m] for m in ("autoencoder", "degradation", "dcec") if opts[m]}
        models = (
            [m.strip() for m in opts["models"].split(",") if m.strip()]
            if opts["models"]
            else comparison_models(pretrained=pretrained)
        )
        try:
            runs = runs_compare(
                experiment=experiment,
                models=models,
                pretrained=pretrained,
                backbone=opts["backbone"],
                folds=opts["folds"],
                max_epochs=opts["max_epochs"],
                patience=opts["patience"],
                device=opts["device"],
                precision=opts["precision"],
                seed=opts["seed"],
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        for run in runs:
            self.stdout.write(f"Run {run.pk}: {run.name}, folder {run.path}")
        if opts["no_wait"] and uses_workers():
            self.stdout.write(f"{len(runs)} runs queued on the gpu queue.")
            return
        for run in runs:
            assert run.job_id is not None
            self.follow(run.job_id)
        finished = [selectors.run_for_page(slug=experiment.slug, run_id=r.pk) for r in runs]
        for run in finished:
            if run.status != ModelRun.Status.SUCCEEDED:
                self.stdout.write(self.style.WARNING(f"Run {run.pk} {run.status}. {run.error}"))
        width = max(len(row.name) for row in selectors.paper_rows()) + 12
        self.stdout.write(f"{'':{width}}" + "".join(f"{m:>18}" for m in METRICS))
        rows = selectors.comparison_rows(finished)
        for row in rows + selectors.paper_rows():
            self.stdout.write(f"{row.name:{width}}" + "".join(f"{c:>18}" for c in row.cells))
        for row in rows:
            for note in row.notes:
                self.stdout.write(f"{row.name}: {note}")
