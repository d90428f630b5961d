"""What the crowd platforms know and what we did there: publications and their batches
(MTurk HITs, Prolific studies), the submissions synced back, the check of every
assignment against them, the payment ledger, the session-cap lists, and the sessions
imported from historical AMT batch results."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from crowdtest.corpus.models import Experiment
from crowdtest.rating.models import Assignment, Rater


class Platform(models.TextChoices):
    LINK = "link"
    MTURK = "mturk"
    PROLIFIC = "prolific"


class Publication(models.Model):
    """One `publish`: an MTurk HIT type with its HITs, a Prolific study, or direct links,
    with the options and the cost estimate it was published with."""

    class Status(models.TextChoices):
        PUBLISHING = "publishing"
        PUBLISHED = "published"
        FAILED = "failed"  # stopped half way: `error` says why; its batches are live
        PAUSED = "paused"  # nobody new can start; resumable
        CLOSED = "closed"  # ended for good on the platform

    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="publications"
    )
    platform = models.CharField(max_length=10, choices=Platform.choices)
    sandbox = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PUBLISHING)
    sessions = models.PositiveIntegerField(help_text="Sessions (assignments, places) offered")
    reward_usd = models.DecimalField(max_digits=8, decimal_places=2)
    type_id = models.CharField(max_length=64, blank=True, help_text="MTurk HITTypeId")
    completion_code = models.CharField(max_length=32, blank=True, help_text="Prolific's code")
    # How long a rater has from accepting to submitting on the platform (MTurk
    # AssignmentDurationInSeconds, Prolific maximum_allowed_time): after that, an
    # assignment the platform does not know can no longer appear there.
    duration_s = models.PositiveIntegerField(default=0)
    options = models.JSONField(default=dict, blank=True)
    estimate = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        where = f"{self.platform}{' sandbox' if self.sandbox else ''}"
        return f"publication {self.pk} of {self.experiment} on {where}"


class Batch(models.Model):
    """A unit the platform lists: an MTurk HIT (its assignments are sessions) or a
    Prolific study (its places are sessions). `Assignment.platform_batch_id` names it."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="batches")
    external_id = models.CharField(max_length=64)
    places = models.PositiveIntegerField()
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["publication", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["publication", "external_id"], name="batch_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return f"batch {self.external_id}"


class Submission(models.Model):
    """A piece of work as the platform reports it (an MTurk assignment, a Prolific
    submission), and whether it matches one of our assignments."""

    class Match(models.TextChoices):
        MATCHED = "matched"  # our assignment, same worker
        UNKNOWN_HERE = "unknown_here"  # the platform has it, we have no such assignment
        OTHER_WORKER = "other_worker"  # our assignment id, but another worker submitted it

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="submissions")
    external_id = models.CharField(max_length=64)
    worker_id = models.CharField(max_length=128)
    platform_status = models.CharField(max_length=24)
    match = models.CharField(max_length=12, choices=Match.choices)
    assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["batch", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "external_id"], name="submission_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return f"submission {self.external_id} by {self.worker_id} ({self.platform_status})"


class AssignmentCheck(models.Model):
    """Whether the platform knows one of our MTurk/Prolific assignments. A forged one
    (an assignmentId or workerId the platform never issued) is never paid, its votes are
    set invalid by a recorded screening override, and its rater is blocked."""

    class State(models.TextChoices):
        VERIFIED = "verified"
        UNVERIFIED = "unverified"  # not seen on the platform yet; it may still be submitted
        FORGED = "forged"

    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, related_name="platform_check"
    )
    state = models.CharField(max_length=10, choices=State.choices)
    detail = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"assignment {self.assignment_id}: {self.state}"


class Payment(models.Model):
    """The payment ledger: one approval, rejection or bonus. The row is written (planned)
    BEFORE the platform is called, marked sent just before the call and confirmed or
    failed after it, so a run that stops half way resumes from the rows it left, and a
    row whose outcome is unknown is checked on the platform before anything is sent again.
    `token` is the idempotency key (MTurk's UniqueRequestToken for bonuses)."""

    class Kind(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"
        BONUS = "bonus"

    class Status(models.TextChoices):
        PLANNED = "planned"
        SENT = "sent"
        CONFIRMED = "confirmed"
        FAILED = "failed"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="payments")
    publication = models.ForeignKey(Publication, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    rater = models.ForeignKey(Rater, null=True, blank=True, on_delete=models.PROTECT)
    worker_id = models.CharField(max_length=128)
    submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    batch_id = models.CharField(max_length=64, blank=True, help_text="HITId, study id")
    amount_usd = models.DecimalField(max_digits=8, decimal_places=2)
    token = models.CharField(max_length=64, unique=True)
    category = models.CharField(max_length=24, blank=True, help_text="Prolific rejection")
    feedback = models.TextField(blank=True, help_text="What the rater is told")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    external_ref = models.CharField(max_length=64, blank=True, help_text="e.g. Prolific bonus id")
    response = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["experiment", "status"])]
        permissions = [("execute_payments", "Can execute approvals, rejections and bonuses")]

    def __str__(self) -> str:
        return f"{self.kind} ${self.amount_usd} to {self.worker_id} ({self.status})"


class CapList(models.Model):
    """Where raters who reached the session cap are listed on a platform: MTurk's custom
    qualification type (our HITs require it `DoesNotExist`) or a Prolific participant
    group (our studies block it). Made once per experiment and platform account."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="cap_lists")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    sandbox = models.BooleanField(default=False)
    external_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "platform", "sandbox"], name="cap_list_unique_account"
            )
        ]

    def __str__(self) -> str:
        return f"cap list {self.external_id} ({self.platform})"


class CapGrant(models.Model):
    """A rater put on a cap list (qualification granted, added to the group)."""

    class Status(models.TextChoices):
        SENT = "sent"
        CONFIRMED = "confirmed"
        FAILED = "failed"

    cap_list = models.ForeignKey(CapList, on_delete=models.CASCADE, related_name="grants")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="cap_grants")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENT)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cap_list", "rater"], name="cap_grant_unique_rater")
        ]

    def __str__(self) -> str:
        return f"{self.rater} on {self.cap_list} ({self.status})"


class ImportedAssignment(models.Model):
    """A session imported from a historical AMT batch-results CSV: already paid on AMT,
    so never synced, checked or paid here; screened like any other."""

    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, related_name="imported_from"
    )
    source = models.CharField(max_length=300, help_text="The CSV's file name")
    line = models.PositiveIntegerField()
    amt_status = models.CharField(max_length=16, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"assignment {self.assignment_id} from {self.source}:{self.line}"
