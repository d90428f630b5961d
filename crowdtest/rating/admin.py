"""Admin for raters, assignments and votes. The math answer and the digits clip (whose
digits are the key) are shown to superusers only; votes are never edited or deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from crowdtest.design.admin import AnswerKeysForAdminsOnly

from .models import Assignment, AssignmentItem, DirectLink, Rater, Vote


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin[Rater]):
    list_display = ("id", "experiment", "platform", "external_id", "blocked", "created_at")
    list_filter = ("experiment", "platform", "blocked")
    search_fields = ("external_id",)
    readonly_fields = ("experiment", "platform", "external_id", "created_at")


class AssignmentItemInline(admin.TabularInline[AssignmentItem, Assignment]):
    model = AssignmentItem
    fields = (
        "phase",
        "position",
        "stimulus",
        "trap",
        "gold",
        "duration_s",
        "play_started_at",
        "plays",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Assignment)
class AssignmentAdmin(AnswerKeysForAdminsOnly):
    answer_keys = ("math_answer", "digits_clip", "digits_tries")
    list_display = ("id", "experiment", "rater", "session", "stage", "status", "started_at")
    list_filter = ("experiment", "status", "stage")
    search_fields = ("rater__external_id", "platform_assignment_id", "completion_code")
    exclude = ("volume_clip_key", "digits_clip_key")
    readonly_fields = (
        "experiment",
        "rater",
        "session",
        "stage",
        "platform_assignment_id",
        "platform_batch_id",
        "platform_return_url",
        "completion_code",
        "needs_setup",
        "needs_training",
        "digits_clip",
        "digits_given",
        "digits_correct",
        "digits_attempts",
        "digits_tries",
        "math_question",
        "math_answer",
        "math_given",
        "hearing_normal",
        "headphones",
        "started_at",
        "last_seen_at",
        "finished_at",
        "ordinal",
    )
    inlines = [AssignmentItemInline]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin[Vote]):
    list_display = (
        "id",
        "experiment",
        "rater",
        "phase",
        "stimulus",
        "trap",
        "gold",
        "score",
        "valid",
    )
    list_filter = ("experiment", "phase", "valid")
    readonly_fields = [f.name for f in Vote._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DirectLink)
class DirectLinkAdmin(admin.ModelAdmin[DirectLink]):
    list_display = ("id", "experiment", "participant", "created_at")
    list_filter = ("experiment",)
