from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.jobs.dispatch import uses_workers
from crowdtest.training.models import ModelRun
from crowdtest.training.services import TrainingError, cnn_pretrain_start
from modeling.baselines.product import METHODS
from modeling.w2vmos.config import PRETRAINED_FROM

# Command options that map one to one onto `CNNPretrainConfig` fields.
SETTINGS = (
    "epochs",
    "batch_size",
    "lr",
    "seconds",
    "segments_per_file",
    "embed_dim",
    "clusters",
    "cluster_weight",
    "ae_epochs",
    "target_every",
    "val_share",
    "device",
    "seed",
)


class Command(ExperimentCommand):
    help = (
        "Pre-train ConvMaxPool's framewise CNN on a folder of unlabeled music as a gpu-queue "
        "task: as an autoencoder, as a degradation classifier (on a synthetic set of clean, "
        "clipped, coded, noisy, reverberant and echoed versions of the music, made first "
        "under OUT_DIR/degraded) or by DCEC. OUT_DIR is what `train_w2vmos --model "
        "convmaxpool_ae|convmaxpool_degr|convmaxpool_dcec|convmaxpool_dcec_mtl --pretrained "
        "OUT_DIR` fine-tunes; running again continues the run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("method", choices=METHODS)
        parser.add_argument("folder", help="unlabeled audio, searched recursively")
        parser.add_argument("out_dir", help="where the CNN, checkpoints (and degraded set) go")
        parser.add_argument("--epochs", type=int, help="default 50 (DCEC: of clustering)")
        parser.add_argument(
            "--batch-size", type=int, help="segments (autoencoder, DCEC) or clips per batch"
        )
        parser.add_argument("--lr", type=float, help="Adam, default 1e-3")
        parser.add_argument("--seconds", type=float, help="excerpt per file, default 10")
        parser.add_argument("--segments-per-file", type=int, help="autoencoder, DCEC: 32")
        parser.add_argument("--embed-dim", type=int, help="autoencoder, DCEC: 32")
        parser.add_argument("--clusters", type=int, help="DCEC: 5")
        parser.add_argument("--cluster-weight", type=float, help="DCEC: gamma, 0.1")
        parser.add_argument("--ae-epochs", type=int, help="DCEC: autoencoder epochs first, 10")
        parser.add_argument("--target-every", type=int, help="DCEC: epochs per target update")
        parser.add_argument("--val-share", type=float, help="held out, default 0.1")
        parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
        parser.add_argument("--seed", type=int)
        parser.add_argument("--experiment", help="show the run on this experiment's Models page")
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the task and return (workers only)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        settings = {field: opts[field] for field in SETTINGS if opts[field] is not None}
        experiment = self.experiment(opts["experiment"]) if opts["experiment"] else None
        try:
            run = cnn_pretrain_start(
                method=opts["method"],
                folder=opts["folder"],
                out_dir=opts["out_dir"],
                experiment=experiment,
                **settings,
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{opts['method']} pre-training run {run.pk} on {run.n_items} files into {run.path}"
        )
        if opts["no_wait"] and uses_workers():
            self.stdout.write(f"Queued on the gpu queue (job {run.job_id}).")
            return
        assert run.job_id is not None
        self.follow(run.job_id)
        run.refresh_from_db()
        if run.status != ModelRun.Status.SUCCEEDED:
            raise CommandError(f"Pre-training run {run.pk} {run.status}. {run.error}")
        summary = run.summary
        accuracy = summary.get("val_accuracy")
        held = f", held-out accuracy {100 * accuracy:.1f} %" if accuracy is not None else ""
        models = " or ".join(n for n, m in PRETRAINED_FROM.items() if m == opts["method"])
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary['epochs']} epochs on {summary['items']} items, held-out loss "
                f"{summary['val_loss']:.4f}{held} ({summary['n_skipped']} files skipped); "
                f"fine-tune with: train_w2vmos SLUG --model {models} --pretrained {run.path}"
            )
        )
