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
    RANDOM_LABELS,
    TrainingError,
    backbone_resolve,
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

    def default_models(self, pretrained: dict[str, str], backbone: str | None) -> list[str]:
        """Every model that can run: w2vMOS and its control only when their backbone can
        be read (a machine that can't fetch the default backbone leaves them out, and says
        so; a backbone given and unreadable is refused)."""
        models = comparison_models(pretrained=pretrained)
        if backbone:  # asked for: a backbone that can't be read is refused, not left out
            return models
        try:
            backbone_resolve(DEFAULT_BACKBONE)
        except TrainingError as exc:
            self.stderr.write(
                self.style.WARNING(f"w2vMOS left out: {exc} Give --backbone to include it.")
            )
            models = [m for m in models if m not in ("w2vmos", RANDOM_LABELS)]
        return models

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        pretrained = {m: opts[m] for m in ("autoencoder", "degradation", "dcec") if opts[m]}
        if opts["models"]:
            models = [m.strip() for m in opts["models"].split(",") if m.strip()]
        else:
            models = self.default_models(pretrained, opts["backbone"])
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
            self.follow(run.job_id, label=f"{run.name} (run {run.pk})")
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
