from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.jobs.dispatch import uses_workers
from crowdtest.training import selectors
from crowdtest.training.models import ModelRun
from crowdtest.training.services import DEFAULT_BACKBONE, TrainingError, run_resume, run_start
from modeling.w2vmos.config import MODEL_NAMES, TABLE_NAMES

# Options that make a run what it is: fixed once it starts, so --resume refuses them.
RUN_SETTINGS = frozenset(
    {
        "model",
        "backbone",
        "folds",
        "max_epochs",
        "patience",
        "random_labels",
        "precision",
        "seed",
        "batch_size",
        "lr_backbone",
        "lr_head",
        "final",
        "pretrained",
    }
)


class Command(ExperimentCommand):
    help = (
        "Train w2vMOS, or with --model one of the paper's baselines, on the experiment's "
        "MOS labels as gpu-queue tasks: the paper's stratified k-fold cross-validation "
        "(RMSE, PCC, SRCC, PRA), or with --final the model that scores the archive. "
        "Labels, model, backbone and settings are checked first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--model",
            choices=MODEL_NAMES,
            default="w2vmos",
            help="; ".join(f"{name}: {TABLE_NAMES[name]}" for name in MODEL_NAMES)
            + " (the paper's Table 1; each with its own batch size, learning rates and loss)",
        )
        parser.add_argument(
            "--backbone",
            help="w2vMOS only: wav2vec 2.0 checkpoint, a folder (e.g. a pretrain_wav2vec2 "
            f"output) or hub id (default {DEFAULT_BACKBONE})",
        )
        parser.add_argument(
            "--pretrained",
            help="the pre-trained ConvMaxPools only: the output folder of the pretrain_cnn run "
            "the model starts from (convmaxpool_ae: autoencoder, convmaxpool_degr: "
            "degradation, convmaxpool_dcec and convmaxpool_dcec_mtl: dcec)",
        )
        parser.add_argument("--folds", type=int, default=3)
        parser.add_argument(
            "--max-epochs", type=int, help="default 200 (NISQA: 500, its repository's)"
        )
        parser.add_argument("--patience", type=int, default=20)
        parser.add_argument("--random-labels", action="store_true", help="the paper's control")
        parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--batch-size", type=int, help="default: w2vMOS 4, ConvMaxPool 16, NISQA 40"
        )
        parser.add_argument(
            "--lr-backbone",
            type=float,
            help="Adam on all but the output layer; default: w2vMOS 1e-5, ConvMaxPool 1e-4, "
            "NISQA 1e-3",
        )
        parser.add_argument(
            "--lr-head",
            type=float,
            help="Adam on the output layer; default: w2vMOS 1e-4, ConvMaxPool and NISQA 1e-3",
        )
        parser.add_argument(
            "--final", action="store_true", help="train the final model on every label"
        )
        parser.add_argument(
            "--resume", type=int, metavar="RUN", help="continue a failed or cancelled run"
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the tasks and return (workers only)"
        )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        self.run_settings = {
            action.dest: (action.default, action.option_strings[0])
            for action in parser._actions
            if action.option_strings and action.dest in RUN_SETTINGS
        }
        return parser

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        if opts["resume"]:
            given = sorted(
                flag
                for dest, (default, flag) in getattr(self, "run_settings", {}).items()
                if opts.get(dest, default) != default
            )
            if given:
                raise CommandError(
                    f"--resume continues run {opts['resume']} with the settings it was started "
                    f"with; {', '.join(given)} can't change them. Start a new run instead."
                )
        try:
            run = self._start(experiment, opts)
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        model = f"{run.name}, backbone {run.backbone}" if run.backbone else run.name
        self.stdout.write(
            f"Run {run.pk}: {run.get_kind_display()} of {model} on {run.n_items} labelled "
            f"stimuli, folder {run.path}"
        )
        if opts["no_wait"] and uses_workers():
            self.stdout.write(f"Queued on the gpu queue (job {run.job_id}).")
            return
        assert run.job_id is not None
        self.follow(run.job_id)
        self._report(selectors.run_for_page(slug=experiment.slug, run_id=run.pk))

    def _start(self, experiment: Any, opts: dict[str, Any]) -> ModelRun:
        if opts["resume"]:
            run = ModelRun.objects.filter(pk=opts["resume"], experiment=experiment).first()
            if run is None:
                raise TrainingError(f"No run {opts['resume']} in {experiment.slug}.")
            return run_resume(run=run)
        return run_start(
            experiment=experiment,
            kind=ModelRun.Kind.FINAL if opts["final"] else ModelRun.Kind.CROSSVAL,
            model=opts["model"],
            backbone=opts["backbone"],
            folds=opts["folds"],
            max_epochs=opts["max_epochs"],
            patience=opts["patience"],
            random_labels=opts["random_labels"],
            device=opts["device"],
            precision=opts["precision"],
            seed=opts["seed"],
            batch_size=opts["batch_size"],
            lr_backbone=opts["lr_backbone"],
            lr_head=opts["lr_head"],
            pretrained=opts["pretrained"],
        )

    def _report(self, run: ModelRun) -> None:
        if run.status != ModelRun.Status.SUCCEEDED:
            self.stdout.write(self.style.WARNING(f"Run {run.pk} {run.status}. {run.error}"))
            return
        loss = f"val {run.loss_name}"
        header = f"{'':14}{'epochs':>8}{loss:>8}{'RMSE':>8}{'PCC':>8}{'SRCC':>8}{'PRA %':>8}"
        self.stdout.write(header)
        for row in selectors.fold_rows(run):
            fold = row["fold"]
            self.stdout.write(
                f"{row['name']:14}{fold.epochs_run:>8}{row['best_val_loss']:>8}{row['rmse']:>8}"
                f"{row['pcc']:>8}{row['srcc']:>8}{row['pra']:>8}"
            )
        for table_row in selectors.comparison_rows([run]) + selectors.paper_rows():
            cells = "  ".join(
                f"{name} {cell}"
                for name, cell in zip(("RMSE", "PCC", "SRCC", "PRA %"), table_row.cells)
            )
            self.stdout.write(f"{table_row.name}: {cells}")
            for note in table_row.notes:
                self.stdout.write(f"  {note}")
        if run.kind == ModelRun.Kind.FINAL:
            self.stdout.write(
                f"Score an archive with: python manage.py predict_quality {run.pk} FOLDER out.csv"
            )
        self.stdout.write(self.style.SUCCESS(f"Run {run.pk} succeeded."))
