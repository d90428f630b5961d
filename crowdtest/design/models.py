"""The plan of a listening test. Answer keys (trap answers, digits) live only here and in
the rating app's server-side rows; nothing in this app is ever serialised to a rater."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from crowdtest.corpus.models import Experiment, Stimulus, new_media_key

ACR_LABELS = {1: "bad", 2: "poor", 3: "fair", 4: "good", 5: "excellent"}


class Design(models.Model):
    """What `build_sessions` decided for an experiment, with the numbers it used."""

    experiment = models.OneToOneField(Experiment, on_delete=models.CASCADE, related_name="design")
    seed = models.IntegerField()
    votes_per_stimulus = models.PositiveSmallIntegerField()
    stimuli_per_cluster = models.PositiveSmallIntegerField()
    n_clusters = models.PositiveSmallIntegerField()
    n_rating_sessions = models.PositiveIntegerField()
    settings_snapshot = models.JSONField(default=dict)
    volume_clip = models.FileField(upload_to="design/", blank=True, max_length=300)
    volume_key = models.CharField(max_length=32, unique=True, default=new_media_key)
    volume_duration_s = models.FloatField(
        null=True, blank=True, help_text="The volume clip's length (the playback check's yardstick)"
    )
    warnings = models.JSONField(default=list, blank=True)
    code_version = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"design of {self.experiment}"


class Prompt(models.Model):
    """A spoken prompt: a digit for the setup, or a trap message. Synthesised locally
    or uploaded by the experimenter (an upload replaces the synthesised one)."""

    class Source(models.TextChoices):
        SYNTHESISED = "synthesised"
        UPLOADED = "uploaded"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="prompts")
    key = models.CharField(max_length=32, help_text="digit-0..digit-9, trap-1..trap-5")
    language = models.CharField(max_length=8, default="en", help_text="The language it speaks")
    text = models.CharField(max_length=200)
    source = models.CharField(max_length=12, choices=Source.choices)
    audio = models.FileField(upload_to="prompts/", max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "key", "language"], name="prompt_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.language} ({self.source})"


class GoldStimulus(models.Model):
    """A stimulus of known quality (P.808 toolkit's gold clips): raters are expected to
    rate it within the experiment's `gold_tolerance` of `score`. Never a rated stimulus,
    so a rater never hears a clip twice and gold votes never reach a MOS."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="gold")
    stimulus = models.OneToOneField(Stimulus, on_delete=models.CASCADE, related_name="gold")
    score = models.PositiveSmallIntegerField(help_text="The known ACR score, 1..5")
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["experiment", "stimulus"]
        verbose_name_plural = "gold stimuli"
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="gold_score_acr"),
        ]

    def __str__(self) -> str:
        return f"gold {self.score} on {self.stimulus}"


class Trap(models.Model):
    """A trap: music from a track not among the rated stimuli, then a spoken 'This is an
    interruption, please select the answer X'; answered right only with `answer` (in a
    comparison test, the pair's music then the message).

    A trap speaks one language: a test offering several has one trap per (source, answer)
    in each, and sessions list those of its first language; a rater who chose another
    hears the same trap in theirs."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="traps")
    source = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="traps")
    answer = models.SmallIntegerField(
        help_text="The answer expected, on the test method's scale (ACR and DCR 1..5, CCR "
        "-3..+3, pairwise 1 or 2)"
    )
    language = models.CharField(max_length=8, default="en", help_text="The message's language")
    media_key = models.CharField(max_length=32, unique=True, default=new_media_key)
    delivery = models.FileField(upload_to="traps/", max_length=300)
    duration_s = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "answer", "language"], name="trap_unique_source_answer"
            ),
            models.CheckConstraint(
                condition=Q(answer__gte=-3, answer__lte=5), name="trap_answer_on_a_scale"
            ),
        ]

    def __str__(self) -> str:
        return f"trap {self.pk}"


class GoldClip(models.Model):
    """A gold clip: a clip whose answer is known and which says nothing. In an ACR test, a
    gold stimulus as it is, or a trap source's music ruined (known Bad); in a comparison
    test, a trap source's music beside its ruined copy, in one order. Answered right
    within the experiment's `gold_tolerance` of `answer` (a comparison's exactly)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="gold_clips")
    source = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="gold_clips")
    answer = models.SmallIntegerField(
        help_text="The known answer, on the test method's scale (ACR and DCR 1..5, CCR "
        "-3..+3, pairwise 1 or 2)"
    )
    media_key = models.CharField(max_length=32, unique=True, default=new_media_key)
    delivery = models.FileField(upload_to="gold/", max_length=300)
    duration_s = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "answer"], name="gold_clip_unique"),
            models.CheckConstraint(
                condition=Q(answer__gte=-3, answer__lte=5), name="gold_clip_answer_on_a_scale"
            ),
        ]

    def __str__(self) -> str:
        return f"gold clip {self.pk}"


# Exactly one of an item's clips is set: a stimulus, a trap, a gold clip or a comparison.
ONE_CLIP = (
    Q(stimulus__isnull=False, trap__isnull=True, gold__isnull=True, comparison__isnull=True)
    | Q(stimulus__isnull=True, trap__isnull=False, gold__isnull=True, comparison__isnull=True)
    | Q(stimulus__isnull=True, trap__isnull=True, gold__isnull=False, comparison__isnull=True)
    | Q(stimulus__isnull=True, trap__isnull=True, gold__isnull=True, comparison__isnull=False)
)


class DigitsClip(models.Model):
    """A setup clip: 2 or 3 spoken digits, each only in the left or the right channel.
    `digits` is the key; the rater types what they heard."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="digit_clips")
    digits = models.CharField(max_length=3)
    channels = models.CharField(max_length=3, help_text="L or R per digit")
    language = models.CharField(max_length=8, default="en", help_text="The language it speaks")
    media_key = models.CharField(max_length=32, unique=True, default=new_media_key)
    delivery = models.FileField(upload_to="digits/", max_length=300)
    duration_s = models.FloatField()

    def __str__(self) -> str:
        return f"digits clip {self.pk}"


class Comparison(models.Model):
    """Two versions of a work as a rater hears them in a comparison test (DCR, CCR,
    pairwise): `first`, a short silence, then `second`, in one clip, so a pair plays,
    loads and is timed like any clip. Which of the two is the reference (DCR, CCR) is kept
    here and never sent to a rater: a CCR pair is made in both orders, and the analysis
    turns a vote given on the processed-first order round (P.808 Annex E). A pairwise
    comparison has no reference; `work_id` names its group of versions."""

    class Method(models.TextChoices):
        DCR = "dcr"
        CCR = "ccr"
        PAIRWISE = "pairwise"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="comparisons")
    method = models.CharField(max_length=8, choices=Method.choices)
    work_id = models.CharField(max_length=200, blank=True)
    first = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="+")
    second = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="+")
    reference_first = models.BooleanField(
        null=True, help_text="DCR and CCR: the reference plays first; blank for pairwise"
    )
    media_key = models.CharField(max_length=32, unique=True, default=new_media_key)
    delivery = models.FileField(upload_to="comparisons/", max_length=300)
    duration_s = models.FloatField()

    class Meta:
        ordering = ["experiment", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "first", "second"], name="comparison_unique_order"
            ),
            models.CheckConstraint(
                condition=~Q(first=models.F("second")), name="comparison_two_versions"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} comparison {self.pk}"

    @property
    def reference(self) -> Stimulus | None:
        if self.reference_first is None:
            return None
        return self.first if self.reference_first else self.second

    @property
    def processed(self) -> Stimulus | None:
        if self.reference_first is None:
            return None
        return self.second if self.reference_first else self.first


class Session(models.Model):
    """A planned session (a HIT or study slot): the training session, or a rating session of
    stimuli per cluster. Its items may be swapped with another open session's when a rater
    who has heard one of them takes it; every stimulus keeps its number of appearances."""

    class Kind(models.TextChoices):
        TRAINING = "training"
        RATING = "rating"

    class Status(models.TextChoices):
        OPEN = "open"  # nobody is taking it
        ACTIVE = "active"  # a rater has it
        DONE = "done"  # completed
        RETIRED = "retired"  # no longer given out (adaptive collection or cancelled)

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="sessions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["experiment", "kind", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "kind", "index"], name="session_unique_index"
            )
        ]
        indexes = [models.Index(fields=["experiment", "kind", "status", "index"])]

    def __str__(self) -> str:
        return f"{self.kind} session {self.index} of {self.experiment}"


class SessionItem(models.Model):
    """One clip of a planned session: a stimulus, a trap, a gold clip or a comparison (a
    pair of versions), at a position."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    stimulus = models.ForeignKey(
        Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="session_items"
    )
    trap = models.ForeignKey(
        Trap, null=True, blank=True, on_delete=models.PROTECT, related_name="session_items"
    )
    gold = models.ForeignKey(
        GoldClip, null=True, blank=True, on_delete=models.PROTECT, related_name="session_items"
    )
    comparison = models.ForeignKey(
        Comparison,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="session_items",
    )

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="session_item_position"),
            models.CheckConstraint(condition=ONE_CLIP, name="session_item_one_clip"),
        ]

    def __str__(self) -> str:
        return f"item {self.position} of {self.session}"
