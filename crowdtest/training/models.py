"""What a w2vMOS model run stores: its resolved configuration, the labels it was given,
per-fold progress and metrics, and the archive scorings made with it.

Training artefacts (checkpoints, saved models) stay in the run's folder on the gpu
worker's local disk; everything the pages and plots show is copied here, so the web
server never needs that folder."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.models import Job
from modeling.w2vmos.config import TABLE_NAMES


def model_runs_root() -> Path:
    """Where run folders live: `MODEL_RUNS_ROOT`, else `MEDIA_ROOT/model_runs`."""
    root = getattr(settings, "MODEL_RUNS_ROOT", None)
    return Path(root) if root else Path(settings.MEDIA_ROOT) / "model_runs"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class ModelRun(models.Model):
    """One model run: the paper's cross-validation, the final model trained on every
    label (to score an archive), a self-supervised pre-training of a backbone, or
    published fairseq checkpoints imported (a backbone, or fine-tuned w2vMOS models whose
    mean scores an archive, one fold each). The model is w2vMOS or a baseline of the
    paper's Table 1 (`config["model"]["name"]`)."""

    class Kind(models.TextChoices):
        CROSSVAL = "crossval", "cross-validation"
        FINAL = "final", "final model"
        PRETRAIN = "pretrain", "pre-training"
        IMPORTED = "imported", "imported checkpoint"

    Status = RunStatus

    experiment = models.ForeignKey(
        Experiment,
        on_delete=models.CASCADE,
        related_name="model_runs",
        null=True,
        blank=True,
        help_text="Empty only for a pre-training or an import not tied to an experiment",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    config = models.JSONField(
        default=dict, help_text="Resolved model/train/cv (or pretrain) settings and the backbone"
    )
    labels = models.JSONField(
        default=list,
        blank=True,
        help_text="The labels trained on: [stimulus id, MOS row id, MOS, CI half-width, class]",
    )
    labels_fingerprint = models.CharField(max_length=64, blank=True)
    n_items = models.PositiveIntegerField(default=0)
    folder = models.CharField(
        max_length=1000,
        blank=True,
        help_text="Run folder: a name under MODEL_RUNS_ROOT, or an absolute path (pre-training)",
    )
    summary = models.JSONField(
        default=dict, blank=True, help_text="Mean and std over folds of every metric"
    )
    error = models.TextField(blank=True)
    code_version = models.CharField(max_length=60, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["experiment", "kind", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=("pretrain", "imported"))
                | models.Q(experiment__isnull=False),
                name="model_run_experiment_unless_pretrain_or_imported",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def path(self) -> Path:
        """The run folder on the gpu worker (relative names resolve under its own root)."""
        folder = Path(self.folder or str(self.pk))
        return folder if folder.is_absolute() else model_runs_root() / folder

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def backbone(self) -> str:
        return str(self.config.get("backbone", ""))

    @property
    def random_labels(self) -> bool:
        return bool(self.config.get("random_labels", False))

    @property
    def k(self) -> int:
        return int(self.config.get("cv", {}).get("k", 0))

    @property
    def model_name(self) -> str:
        """w2vmos, nisqa, nisqa_l1 or convmaxpool (runs from before the baselines: w2vmos)."""
        return str(self.config.get("model", {}).get("name", "w2vmos"))

    @property
    def loss_name(self) -> str:
        """The training and early-stopping loss as the progress reports name it."""
        return "MSE" if self.config.get("train", {}).get("loss") == "l2" else "L1"

    @property
    def name(self) -> str:
        """The run's row name in a Table 1-style comparison."""
        if "pretrain_cnn" in self.config:
            method = self.config["pretrain_cnn"].get("method", "")
            return f"ConvMaxPool CNN, {method} pre-training"
        name = TABLE_NAMES.get(self.model_name, self.model_name)
        return f"{name} Rand. Labels" if self.random_labels else name


class ModelFold(models.Model):
    """One fold of a cross-validation (or the single training of a final model): its
    live progress while it trains, then its metrics and test predictions."""

    Status = RunStatus

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="folds")
    index = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    sent = models.BooleanField(default=False, help_text="Its task has been queued")
    epochs_run = models.PositiveIntegerField(default=0)
    best_epoch = models.PositiveIntegerField(default=0)
    best_val_loss = models.FloatField(null=True, blank=True)
    stopped_early = models.BooleanField(default=False)
    history = models.JSONField(
        default=list, blank=True, help_text="[{epoch, train_loss, val_loss}] (L1)"
    )
    n_train = models.PositiveIntegerField(default=0)
    n_val = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    tau = models.FloatField(null=True, blank=True, help_text="PRA threshold (training CIs)")
    metrics = models.JSONField(default=dict, blank=True)
    predictions = models.JSONField(
        default=list,
        blank=True,
        help_text="Held-out items: stimulus, split, MOS, label used, raw and mapped prediction",
    )
    model_dir = models.CharField(max_length=1000, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="model_fold_unique_index")
        ]

    def __str__(self) -> str:
        return f"fold {self.index} of run {self.run_id} ({self.status})"


class ScoringRun(models.Model):
    """An archive scored with a run's model: predicted MOS per file in a CSV."""

    Status = RunStatus

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="scorings")
    source = models.CharField(
        max_length=1000, help_text="A folder, a manifest CSV, or empty: the experiment's tracks"
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device = models.CharField(max_length=10, default="auto")
    engine = models.CharField(
        max_length=20, default="auto", help_text="CPU inference engine, or auto (fastest exact)"
    )
    shard_size = models.PositiveIntegerField(
        default=0, help_text="Files per shard task (0: one task scored it, before shards)"
    )
    n_shards = models.PositiveIntegerField(default=0)
    model_fold = models.PositiveSmallIntegerField(null=True, blank=True)
    n_files = models.PositiveIntegerField(default=0)
    n_scored = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0)
    output = models.FileField(upload_to="scores/", blank=True, max_length=300)
    out_path = models.CharField(max_length=1000, blank=True, help_text="CSV a command wrote")
    error = models.TextField(blank=True)
    code_version = models.CharField(max_length=60, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"scoring #{self.pk} with run {self.run_id} ({self.status})"


class ScoringShard(models.Model):
    """A slice of a scoring's files, scored by one task on whichever worker takes it.
    Its files are listed here (what the CSV calls each, where to read it), so a shard
    delivered again, or a continuation, reads the same list whatever became of the
    source; each file's result is a `ScoredFile` row, written as it is scored."""

    Status = RunStatus

    scoring = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    start = models.PositiveIntegerField(help_text="Input position of its first file")
    files = models.JSONField(
        default=list, help_text="[name, kind, source, track id or null, error] per file"
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    restarts = models.PositiveSmallIntegerField(
        default=0, help_text="Deliveries that found it running: its worker had died"
    )
    n_scored = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="Host and process last on it")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scoring_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["scoring", "index"], name="scoring_shard_unique_index")
        ]

    def __str__(self) -> str:
        return f"shard {self.index} of scoring {self.scoring_id} ({self.status})"

    @property
    def count(self) -> int:
        return len(self.files)


class ScoredFile(models.Model):
    """One file's result in a sharded scoring: its MOS, or why there is none. At most
    one per input position, so no file is ever in the CSV twice."""

    scoring = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(help_text="Its place in the input (and the CSV)")
    mos = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    engine = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["scoring_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["scoring", "position"], name="scored_file_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"file {self.position} of scoring {self.scoring_id}"
