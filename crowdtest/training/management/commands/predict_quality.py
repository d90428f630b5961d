from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from crowdtest.training.models import ModelRun
from crowdtest.training.services import TrainingError, scoring_run_here


class Command(BaseCommand):
    help = (
        "Score a whole archive with a model run (its final model, its fold with the "
        "lowest validation loss, or the mean of an imported run's models): the predicted "
        "MOS of every audio file of a folder or manifest CSV (`path` column), into a CSV "
        "with the error of files that can't be read, the model run and the code version. "
        "Run it where the run folder is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run", type=int, help="the model run's id")
        parser.add_argument("source", help="a folder (searched recursively) or a manifest CSV")
        parser.add_argument("out", type=Path, help="the CSV to write")
        parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument(
            "--engine",
            default="auto",
            help="on a CPU: auto (the fastest engine that agrees with fp32, measured once "
            "per machine), torch-fp32, torch-int8, torch-bf16, onnx-fp32, onnx-int8; batched: the "
            "GPU path",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        run = ModelRun.objects.filter(pk=opts["run"]).first()
        if run is None:
            raise CommandError(f"No model run {opts['run']}.")
        with tqdm(file=sys.stderr, unit="file", dynamic_ncols=True) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                scoring = scoring_run_here(
                    run=run,
                    source=opts["source"],
                    out_path=opts["out"],
                    device=opts["device"],
                    batch_size=opts["batch_size"],
                    engine=opts["engine"],
                    progress=progress,
                )
            except TrainingError as exc:
                raise CommandError(str(exc)) from exc
        model = (
            f"fold {scoring.model_fold}"
            if scoring.model_fold is not None
            else f"mean of {run.folds.count()} models"
        )
        message = (
            f"{scoring.n_scored} of {scoring.n_files} files scored with run {run.pk} "
            f"({model}), {scoring.n_failed} with errors: {scoring.out_path}"
        )
        self.stdout.write(self.style.SUCCESS(message))
