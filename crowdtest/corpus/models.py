from __future__ import annotations

import secrets

from django.conf import settings as django_settings
from django.core.validators import RegexValidator
from django.db import models

from .config import ExperimentSettings


def new_media_key() -> str:
    """Opaque name for a stimulus's files: says nothing about the track or its role."""
    return secrets.token_hex(16)


class Experiment(models.Model):
    slug = models.SlugField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Lower-case letters, digits, -")],
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("export_experiment", "Can download an experiment's exports")]

    def __str__(self) -> str:
        return self.slug

    @property
    def config(self) -> ExperimentSettings:
        """The settings, parsed; parsed again only when `settings` has changed."""
        held = self.__dict__.get("_config")
        if held is not None and held[0] == self.settings:
            return held[1]  # type: ignore[no-any-return]
        parsed = ExperimentSettings.from_dict(self.settings, strict=False)
        self.__dict__["_config"] = (dict(self.settings or {}), parsed)
        return parsed

    @property
    def job_scope(self) -> str:
        return f"experiment:{self.pk}"


class Track(models.Model):
    """A recording of the collection, as imported. Its audio stays where it was found
    (a folder, an S3 object) unless it was uploaded."""

    class SourceKind(models.TextChoices):
        PATH = "path"
        S3 = "s3"
        UPLOAD = "upload"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="tracks")
    source_kind = models.CharField(max_length=8, choices=SourceKind.choices)
    source = models.CharField(max_length=1000, help_text="Path, s3:// URI or storage name")
    original_name = models.CharField(max_length=500)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the file's content")
    size_bytes = models.BigIntegerField(default=0)
    title = models.CharField(max_length=500, blank=True)
    artist = models.CharField(max_length=500, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    label = models.CharField(max_length=300, blank=True)
    carrier = models.CharField(max_length=100, blank=True)
    # Comparison tests (DCR, CCR, pairwise): the versions of one work (transfers,
    # pressings, restorations) share a work id; a processed version (a restoration) names
    # the track it was made from by its manifest path or file name.
    work_id = models.CharField(
        max_length=200, blank=True, help_text="Tracks that are versions of one work share it"
    )
    reference = models.CharField(
        max_length=500,
        blank=True,
        help_text="The track this one was processed from (its manifest path or file name)",
    )
    duration_s = models.FloatField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    audio_format = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True, help_text="Why the file can't be used, if it can't")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "checksum"], name="track_unique_content")
        ]

    def __str__(self) -> str:
        return self.title or self.original_name


class Stimulus(models.Model):
    """The excerpt of a track that raters hear: the middle 10 s, loudness-normalised,
    a lossless master for modelling and a lossy delivery file for browsers."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    class Role(models.TextChoices):
        RATED = "rated", "rated"
        TRAP_SOURCE = "trap_source", "trap source"
        GOLD = "gold", "gold stimulus"
        TRAINING = "training", "training stimulus"
        UNUSED = "unused", "not used"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="stimuli")
    track = models.OneToOneField(Track, on_delete=models.CASCADE, related_name="stimulus")
    media_key = models.CharField(max_length=32, unique=True, default=new_media_key)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    master = models.FileField(upload_to="stimuli/", blank=True, max_length=300)
    delivery = models.FileField(upload_to="stimuli/", blank=True, max_length=300)
    start_s = models.FloatField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    mono_source = models.BooleanField(default=False)
    downmixed = models.BooleanField(default=False)
    lufs_before = models.FloatField(null=True, blank=True)
    lufs_after = models.FloatField(null=True, blank=True)
    gain_db = models.FloatField(null=True, blank=True)
    true_peak_db = models.FloatField(null=True, blank=True)
    gain_limited = models.BooleanField(default=False)
    codec = models.CharField(max_length=60, blank=True)
    encoder = models.CharField(max_length=30, blank=True)
    bitrate_kbps = models.PositiveIntegerField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    features = models.JSONField(null=True, blank=True)
    features_version = models.CharField(max_length=40, blank=True)
    cluster = models.SmallIntegerField(null=True, blank=True)
    role = models.CharField(
        max_length=12,
        choices=Role.choices,
        default=Role.UNUSED,
        help_text="Its part in the test: rated (kept after equalising clusters), a trap "
        "source, a gold stimulus, a training stimulus, or not used",
    )
    prepared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "stimuli"
        indexes = [
            models.Index(fields=["experiment", "status"]),
            models.Index(fields=["experiment", "role", "cluster"]),
        ]

    def __str__(self) -> str:
        return f"stimulus {self.pk} of {self.track}"


class Clustering(models.Model):
    """One clustering of an experiment's stimuli; the current one drives the design."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="clusterings")
    algorithm = models.CharField(max_length=16)
    k = models.PositiveSmallIntegerField(null=True, blank=True)
    seed = models.IntegerField(default=0)
    features_version = models.CharField(max_length=40)
    n_stimuli = models.PositiveIntegerField()
    n_clusters = models.PositiveSmallIntegerField()
    sizes = models.JSONField(default=list)
    n_noise = models.PositiveIntegerField(default=0)
    silhouette = models.FloatField(null=True, blank=True)
    davies_bouldin = models.FloatField(null=True, blank=True)
    equalised_size = models.PositiveIntegerField()
    plot = models.FileField(upload_to="plots/", blank=True, max_length=300)
    is_current = models.BooleanField(default=True)
    code_version = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.algorithm} on {self.experiment} ({self.created_at:%Y-%m-%d %H:%M})"
