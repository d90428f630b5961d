"""Raters, the sessions they take (assignments), their answers and votes.

Answer keys (the math result, the digits) are stored here server-side; the rater's page
only ever receives question texts and opaque clip keys."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import ONE_CLIP, Comparison, DigitsClip, GoldClip, Session, Trap


def new_clip_key() -> str:
    return secrets.token_urlsafe(18)


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


class RaterQuerySet(models.QuerySet["Rater"]):
    def crowd(self) -> RaterQuerySet:
        """Real raters: a staff preview's rater is left out of what counts."""
        return self.exclude(platform=Rater.Platform.STAFF)


class AssignmentQuerySet(models.QuerySet["Assignment"]):
    def crowd(self) -> AssignmentQuerySet:
        """Sessions taken by real raters, not staff previews (screening, results, exports
        and payments read only these)."""
        return self.exclude(rater__platform=Rater.Platform.STAFF)


class VoteQuerySet(models.QuerySet["Vote"]):
    def crowd(self) -> VoteQuerySet:
        """Votes of real raters, not of staff previews."""
        return self.exclude(rater__platform=Rater.Platform.STAFF)


class Rater(models.Model):
    """A person as a crowd platform knows them (MTurk workerId, Prolific PID, or a
    direct-link participant). Raters never have accounts."""

    class Platform(models.TextChoices):
        LINK = "link"
        MTURK = "mturk"
        PROLIFIC = "prolific"
        # An experimenter previewing the test: uses no session up, and nothing of it
        # enters screening, results or exports (see `Rater.is_preview`).
        STAFF = "staff", "staff preview"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="raters")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    external_id = models.CharField(max_length=128)
    blocked = models.BooleanField(default=False)
    setup_passed_at = models.DateTimeField(null=True, blank=True)
    training_done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RaterQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "platform", "external_id"], name="rater_unique_identity"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"

    @property
    def is_preview(self) -> bool:
        return self.platform == Rater.Platform.STAFF


class Assignment(models.Model):
    """One rater taking one rating session, from consent to finish."""

    class Stage(models.TextChoices):
        CONSENT = "consent"
        SETUP = "setup"
        QUESTIONS = "questions"
        TRAINING = "training"
        RATING = "rating"
        FINISHED = "finished"

    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        ABANDONED = "abandoned"  # timed out; its session went back to the pool
        STOPPED = "stopped"  # failed the setup check; its session went back to the pool
        # the rater's device could not play the audio; its session went back to the pool
        NO_PLAYBACK = "no_playback"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="assignments")
    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="assignments")
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.CONSENT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The platform's own ids for this piece of work (MTurk assignmentId/hitId,
    # Prolific STUDY_ID/SESSION_ID); blank for direct links.
    platform_assignment_id = models.CharField(max_length=128, blank=True, db_index=True)
    platform_batch_id = models.CharField(max_length=128, blank=True)
    platform_return_url = models.URLField(max_length=500, blank=True)
    completion_code = models.CharField(max_length=16, default=new_completion_code)
    # Setup and questions; *_answer fields are keys and never leave the server.
    needs_setup = models.BooleanField(default=True)
    needs_training = models.BooleanField(default=True)
    digits_clip = models.ForeignKey(DigitsClip, null=True, blank=True, on_delete=models.SET_NULL)
    digits_given = models.CharField(max_length=16, blank=True)
    digits_correct = models.BooleanField(null=True)
    digits_attempts = models.PositiveSmallIntegerField(default=0)
    # Every try at the digits: [{"clip": DigitsClip id, "given": "...", "correct": bool,
    # "at": ISO time}]; `digits_given` and `digits_correct` hold the last one.
    digits_tries = models.JSONField(default=list, blank=True)
    # Opaque per-assignment keys under which the setup clips are served, in the same
    # format as the items' clip keys.
    volume_clip_key = models.CharField(max_length=32, unique=True, default=new_clip_key)
    digits_clip_key = models.CharField(max_length=32, unique=True, default=new_clip_key)
    math_question = models.CharField(max_length=100, blank=True)
    math_answer = models.SmallIntegerField(null=True)
    math_given = models.SmallIntegerField(null=True)
    hearing_normal = models.BooleanField(null=True)
    headphones = models.BooleanField(null=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ordinal = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="This rater's nth completed session"
    )
    playback = models.JSONField(
        default=dict,
        blank=True,
        help_text="The playback check on the rater's device: could it decode the delivery "
        "codec, its audio output sample rate, the clip's decoded duration against the expected",
    )
    language = models.CharField(
        max_length=8, default="en", help_text="The language of the page and prompts"
    )
    saturated_skipped = models.PositiveSmallIntegerField(
        default=0,
        help_text="Stimuli of the session left out when it was handed out: their CI had "
        "already reached the adaptive target",
    )

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["experiment", "status"]),
            models.Index(fields=["rater", "status"]),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.rater}, {self.session})"


class AssignmentItem(models.Model):
    """A clip the rater is given, in order, under an opaque key used in its audio URL."""

    class Phase(models.TextChoices):
        TRAINING = "training"
        RATING = "rating"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="items")
    phase = models.CharField(max_length=8, choices=Phase.choices)
    position = models.PositiveSmallIntegerField()
    stimulus = models.ForeignKey(Stimulus, null=True, blank=True, on_delete=models.PROTECT)
    trap = models.ForeignKey(Trap, null=True, blank=True, on_delete=models.PROTECT)
    gold = models.ForeignKey(GoldClip, null=True, blank=True, on_delete=models.PROTECT)
    comparison = models.ForeignKey(Comparison, null=True, blank=True, on_delete=models.PROTECT)
    clip_key = models.CharField(max_length=32, unique=True, default=new_clip_key)
    duration_s = models.FloatField()
    play_started_at = models.DateTimeField(null=True, blank=True)
    plays = models.PositiveSmallIntegerField(default=0)
    # What of the clip's bytes went out to the rater: the first request for them, the
    # byte ranges sent ([start, end) pairs, merged) and when they covered the whole file.
    # A play counts only after a request, a rating only after the whole clip was sent.
    audio_requested_at = models.DateTimeField(null=True, blank=True)
    audio_sent_ranges = models.JSONField(default=list, blank=True)
    audio_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assignment", "phase", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "phase", "position"], name="assignment_item_position"
            ),
            models.CheckConstraint(condition=ONE_CLIP, name="assignment_item_one_clip"),
        ]

    def __str__(self) -> str:
        return f"{self.phase} item {self.position} of assignment {self.assignment_id}"


class Vote(models.Model):
    """A score given to a clip, on the test method's scale: ACR and DCR 1..5, CCR -3..+3
    as given (the order is the comparison's), pairwise 1 (the first) or 2 (the second).
    One per assignment item: a resent answer is harmless. `valid` is set by screening
    (None until the session is screened); only valid votes on stimuli in the rating phase
    count towards MOS, and only valid votes on comparisons towards DMOS, CMOS and
    rankings."""

    item = models.OneToOneField(AssignmentItem, on_delete=models.CASCADE, related_name="vote")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="votes")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="votes")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="votes")
    phase = models.CharField(max_length=8, choices=AssignmentItem.Phase.choices)
    stimulus = models.ForeignKey(
        Stimulus, null=True, blank=True, on_delete=models.PROTECT, related_name="votes"
    )
    trap = models.ForeignKey(
        Trap, null=True, blank=True, on_delete=models.PROTECT, related_name="votes"
    )
    gold = models.ForeignKey(
        GoldClip, null=True, blank=True, on_delete=models.PROTECT, related_name="votes"
    )
    comparison = models.ForeignKey(
        Comparison, null=True, blank=True, on_delete=models.PROTECT, related_name="votes"
    )
    score = models.SmallIntegerField()
    play_started_at = models.DateTimeField()
    submitted_at = models.DateTimeField(default=timezone.now)
    listened_s = models.FloatField(help_text="Seconds between playback start and the answer")
    hidden_s = models.FloatField(
        null=True,
        blank=True,
        help_text="Seconds the page was hidden (another tab or app) while the clip played, as "
        "the page measured it; blank when the page did not say",
    )
    valid = models.BooleanField(null=True)

    objects = VoteQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=-3, score__lte=5), name="vote_score_on_a_scale"
            ),
        ]
        indexes = [
            models.Index(fields=["stimulus", "valid", "phase"]),
            models.Index(fields=["experiment", "submitted_at"]),
        ]

    def __str__(self) -> str:
        return f"vote {self.score} by {self.rater_id}"


class DirectLink(models.Model):
    """A direct link to the test (own panels, lab tests): one per participant, or the
    experiment's open link (`participant` blank) that gives every visitor a new identity."""

    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="direct_links"
    )
    participant = models.CharField(max_length=64, blank=True)
    max_sessions = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Sessions this participant may complete (1: a one-off link); blank: the "
        "experiment's max_sessions_per_rater",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["experiment", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "participant"], name="direct_link_unique_participant"
            )
        ]

    def __str__(self) -> str:
        return f"link {self.participant or '(open)'} to {self.experiment}"
