"""What the results app stores: screening verdicts (with admin overrides and their audit
trail), votes dropped by vote-level rules, MOS rows, and sessions retired by adaptive
collection. Votes themselves stay in the rating app; only `Vote.valid` is written there."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Session
from crowdtest.rating.models import Assignment, Rater, Vote


class SessionVerdict(models.Model):
    """The screening verdict on one assignment (a rater's session).

    `rules_valid` and `reasons` are what the rules said; the latest `VerdictOverride` of
    the assignment, when it sets a value, wins over them. `valid` is the verdict in force
    (what `Vote.valid` follows). Screening again rewrites this row, never the overrides."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="verdict")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="verdicts")
    rules_valid = models.BooleanField()
    reasons = models.JSONField(default=list, help_text="modeling.screening.Reason codes")
    rules = models.JSONField(default=dict, help_text="The screening rules applied")
    ordinal = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The rater's nth completed session, by completion time"
    )
    rating_variance = models.FloatField(null=True, blank=True)
    screened_at = models.DateTimeField()
    overridden = models.BooleanField(default=False, help_text="An admin's override is in force")
    valid = models.BooleanField(help_text="The verdict in force: the override's, else the rules'")

    class Meta:
        indexes = [models.Index(fields=["experiment", "valid"])]
        permissions = [("override_verdict", "Can override a session's screening verdict")]

    def __str__(self) -> str:
        return f"{'valid' if self.valid else 'invalid'} verdict on assignment {self.assignment_id}"


class RaterVerdict(models.Model):
    """The verdict on a rater over all their valid sessions (beyond the session rules):
    whether their answers follow the other raters' MOS and the gold clips' known scores
    (`modeling.screening.rater_agreement`). `valid` is None while too few of their
    answers count to judge them. A rater judged invalid has every rating vote of their
    valid sessions dropped (a `VoteExclusion` with rule `rater_pcc`)."""

    rater = models.OneToOneField(Rater, on_delete=models.CASCADE, related_name="verdict")
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="rater_verdicts"
    )
    valid = models.BooleanField(null=True, help_text="None: not enough answers to judge yet")
    reasons = models.JSONField(default=list, help_text="modeling.screening.RaterReason codes")
    pcc = models.FloatField(null=True, blank=True, help_text="Correlation with the reference")
    answers = models.PositiveIntegerField(default=0, help_text="Answers the correlation is over")
    gold_answers = models.PositiveIntegerField(default=0)
    screened_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["experiment", "valid"])]

    def __str__(self) -> str:
        state = {True: "valid", False: "invalid", None: "pending"}[self.valid]
        return f"{state} verdict on rater {self.rater_id}"


class VerdictOverride(models.Model):
    """Audit trail of overrides: who set a session valid or invalid (or cleared the
    override, `valid` None), when, and why. Append-only; the latest one is in force."""

    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="verdict_overrides"
    )
    valid = models.BooleanField(null=True)
    note = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"override of assignment {self.assignment_id} to {self.valid} by {self.by_id}"


class VoteExclusion(models.Model):
    """A vote of a valid session dropped by an optional vote-level rule (P.808 toolkit:
    |z| outliers, raters who do not follow the MOS), with the rule that dropped it; a
    rater's correlation with the MOS is on their `RaterVerdict`."""

    class Rule(models.TextChoices):
        OUTLIER = "outlier", "vote is an outlier for its stimulus"
        RATER_PCC = "rater_pcc", "rater's votes do not follow the MOS"

    vote = models.OneToOneField(Vote, on_delete=models.CASCADE, related_name="exclusion")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    rule = models.CharField(max_length=10, choices=Rule.choices)

    def __str__(self) -> str:
        return f"vote {self.vote_id} excluded ({self.rule})"


class StimulusMOS(models.Model):
    """One stimulus's opinion statistics: computed from its valid votes, or imported from
    a Vinylset CSV. CIs are 95% HALF-widths (the normal one is the Vinylset `CI`)."""

    class Source(models.TextChoices):
        COMPUTED = "computed"
        IMPORTED = "imported"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="mos_rows")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.CASCADE, related_name="mos_rows")
    source = models.CharField(max_length=8, choices=Source.choices)
    mos = models.FloatField()
    std = models.FloatField(null=True, blank=True)
    n = models.PositiveIntegerField(null=True, blank=True)
    ci95_normal = models.FloatField(null=True, blank=True)
    ci95_t = models.FloatField(null=True, blank=True)
    mosgroup = models.CharField(max_length=4, blank=True)
    votes_total = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rating votes collected, valid or not"
    )
    # Beside the plain MOS (the Vinylset label): rater bias and inconsistency removed
    # (ITU-T P.913 subject model, `modeling.bias`), with its 95% CI half-width.
    mos_corrected = models.FloatField(null=True, blank=True)
    ci95_corrected = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["stimulus_id", "source"]
        constraints = [
            models.UniqueConstraint(fields=["stimulus", "source"], name="mos_unique_source")
        ]
        indexes = [models.Index(fields=["experiment", "source"])]

    def __str__(self) -> str:
        return f"MOS {self.mos:.3f} of stimulus {self.stimulus_id} ({self.source})"


class RaterEstimate(models.Model):
    """A rater's bias (their constant offset from the stimuli's quality, ACR points) and
    inconsistency (the spread of their votes around quality plus bias), estimated with
    the corrected MOS from the valid votes (ITU-T P.913 subject model)."""

    rater = models.OneToOneField(Rater, on_delete=models.CASCADE, related_name="estimate")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    bias = models.FloatField()
    inconsistency = models.FloatField()
    votes = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return (
            f"rater {self.rater_id}: bias {self.bias:+.2f}, inconsistency {self.inconsistency:.2f}"
        )


class RetiredSession(models.Model):
    """A planned rating session that adaptive collection took out of circulation because
    every stimulus in it had reached the target CI; what it would have cost is saved."""

    session = models.OneToOneField(Session, on_delete=models.CASCADE, related_name="retirement")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    stimuli = models.PositiveSmallIntegerField(help_text="Votes the session would have bought")
    reward_usd = models.DecimalField(max_digits=8, decimal_places=2)
    retired_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"retired {self.session}"
