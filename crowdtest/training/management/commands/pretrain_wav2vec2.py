from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.jobs.dispatch import uses_workers
from crowdtest.training.models import ModelRun
from crowdtest.training.services import TrainingError, pretrain_start

# Command options that map one to one onto `PretrainConfig` fields.
SETTINGS = {
    "steps": "max_steps",
    "window_seconds": "window_seconds",
    "hop_seconds": "hop_seconds",
    "batch_size": "batch_size",
    "lr": "lr",
    "warmup_steps": "warmup_steps",
    "save_every": "save_every",
    "device": "device",
    "precision": "precision",
    "seed": "seed",
}


class Command(ExperimentCommand):
    help = (
        "Pre-train a wav2vec 2.0 backbone self-supervised on a folder of unlabeled music "
        "(20 s windows, 10 s hop, 16 kHz) as a gpu-queue task. OUT_DIR/backbone is what "
        "`train_w2vmos --backbone OUT_DIR` fine-tunes; running again continues the run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", help="unlabeled audio, searched recursively")
        parser.add_argument("out_dir", help="where the backbone and checkpoints go")
        parser.add_argument("--init", help="continue from this wav2vec 2.0 checkpoint")
        parser.add_argument("--steps", type=int, help="optimiser steps (default 400000)")
        parser.add_argument("--window-seconds", type=float)
        parser.add_argument("--hop-seconds", type=float)
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--warmup-steps", type=int)
        parser.add_argument("--save-every", type=int, help="steps between checkpoints")
        parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
        parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"))
        parser.add_argument("--seed", type=int)
        parser.add_argument("--experiment", help="show the run on this experiment's Models page")
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the task and return (workers only)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        settings = {field: opts[o] for o, field in SETTINGS.items() if opts[o] is not None}
        experiment = self.experiment(opts["experiment"]) if opts["experiment"] else None
        try:
            run = pretrain_start(
                folder=opts["folder"],
                out_dir=opts["out_dir"],
                init=opts["init"],
                experiment=experiment,
                **settings,
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Pre-training run {run.pk} on {run.n_items} files into {run.path}")
        if opts["no_wait"] and uses_workers():
            self.stdout.write(f"Queued on the gpu queue (job {run.job_id}).")
            return
        assert run.job_id is not None
        self.follow(run.job_id)
        run.refresh_from_db()
        if run.status != ModelRun.Status.SUCCEEDED:
            raise CommandError(f"Pre-training run {run.pk} {run.status}. {run.error}")
        skipped = run.summary.get("n_skipped", 0)
        self.stdout.write(
            self.style.SUCCESS(
                f"{run.summary['steps']} steps on {run.summary['segments']} segments "
                f"({skipped} files skipped); fine-tune with: "
                f"train_w2vmos SLUG --backbone {run.path}"
            )
        )
