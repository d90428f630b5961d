from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crowdtest.training.services import TrainingError, checkpoint_import


class Command(BaseCommand):
    help = (
        "Import fairseq wav2vec 2.0 checkpoints without fairseq: a pre-trained one (the "
        "paper's checkpoint_best.pt) as a backbone for train_w2vmos, or fine-tuned w2vMOS "
        "ones (qama_fold1..3.pt, qama_full.pt) as one model run whose mean scores an archive "
        "with predict_quality. Run it where the run folders are (MODEL_RUNS_ROOT)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, help="fairseq checkpoint file(s)")
        parser.add_argument("--name", default="", help="the import's name (default: the file's)")
        parser.add_argument(
            "--pretrained",
            type=Path,
            help="the pre-trained fairseq checkpoint whose model settings bare state dicts "
            "(the qama_*.pt files) share, e.g. checkpoint_best.pt",
        )
        parser.add_argument(
            "--trust-pickle",
            action="store_true",
            help="read objects other than tensors from the files (this may run code from "
            "them): only for files from a source you trust",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            run = checkpoint_import(
                paths=opts["files"],
                name=opts["name"],
                pretrained=opts["pretrained"],
                trust_pickle=opts["trust_pickle"],
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        sources = run.summary["sources"]
        for source in sources:
            dropped = len(source["dropped"])
            self.stdout.write(
                f"{source['file']}: wav2vec 2.0 with settings from {source['settings_from']}"
                + (", with its MOS head" if source["has_head"] else ", no MOS head")
                + (f"; {dropped} pre-training or unused weights left out" if dropped else "")
            )
        if run.config["fine_tuned"]:
            mean = f"the mean of its {len(sources)} models" if len(sources) > 1 else "its model"
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported as run {run.pk} in {run.path}; score an archive with {mean}: "
                    f"python manage.py predict_quality {run.pk} FOLDER out.csv"
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported as run {run.pk}, a backbone in {run.path / 'backbone'}; "
                    f"fine-tune it with: python manage.py train_w2vmos SLUG --backbone {run.path}"
                )
            )
