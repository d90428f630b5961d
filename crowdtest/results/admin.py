from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import RetiredSession, SessionVerdict, StimulusMOS, VerdictOverride, VoteExclusion


@admin.register(SessionVerdict)
class SessionVerdictAdmin(admin.ModelAdmin[SessionVerdict]):
    """Read-only: verdicts come from screening; overrides go through the Results tab,
    which records who and why."""

    list_display = ("assignment", "experiment", "valid", "rules_valid", "overridden", "reasons")
    list_filter = ("experiment", "valid", "overridden")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VerdictOverride)
class VerdictOverrideAdmin(admin.ModelAdmin[VerdictOverride]):
    list_display = ("assignment", "valid", "note", "by", "at")
    list_filter = ("valid",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StimulusMOS)
class StimulusMOSAdmin(admin.ModelAdmin[StimulusMOS]):
    list_display = (
        "stimulus",
        "experiment",
        "source",
        "mos",
        "std",
        "n",
        "ci95_normal",
        "mosgroup",
    )
    list_filter = ("experiment", "source")


admin.site.register(VoteExclusion)
admin.site.register(RetiredSession)
