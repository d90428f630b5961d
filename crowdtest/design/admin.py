"""Admin for session design. Answer keys (a trap's answer, a gold clip's known answer, a
digits clip's digits) are shown to superusers only; other staff see the design without
them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from .models import (
    Design,
    DigitsClip,
    GoldClip,
    GoldStimulus,
    Prompt,
    Session,
    SessionItem,
    Trap,
)


class AnswerKeysForAdminsOnly(admin.ModelAdmin[Any]):
    """Leaves the fields named in `answer_keys` out of every view unless the user is a
    superuser (an admin), and refuses (400) a list filtered on one of them in the URL
    (`?answer=5`), which would tell the key by what it keeps."""

    answer_keys: tuple[str, ...] = ()

    def _hide(self, request: HttpRequest, names: Sequence[Any]) -> list[Any]:
        user = request.user
        if getattr(user, "is_superuser", False):
            return list(names)
        return [name for name in names if name not in self.answer_keys]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return self._hide(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return self._hide(request, super().get_readonly_fields(request, obj))

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return self._hide(request, super().get_list_display(request))

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        field = lookup.split(LOOKUP_SEP, 1)[0]
        if field in self.answer_keys and not getattr(request.user, "is_superuser", False):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        excluded = list(super().get_exclude(request, obj) or [])
        if not getattr(request.user, "is_superuser", False):
            excluded += list(self.answer_keys)
        return excluded


@admin.register(Design)
class DesignAdmin(admin.ModelAdmin[Design]):
    list_display = ("experiment", "n_rating_sessions", "votes_per_stimulus", "seed", "created_at")
    readonly_fields = [f.name for f in Design._meta.fields]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin[Prompt]):
    list_display = ("experiment", "key", "source", "text", "created_at")
    list_filter = ("experiment", "source")


@admin.register(Trap)
class TrapAdmin(AnswerKeysForAdminsOnly):
    answer_keys = ("answer",)
    list_display = ("id", "experiment", "language", "source", "answer", "duration_s")
    list_filter = ("experiment", "language")
    readonly_fields = (
        "experiment",
        "language",
        "source",
        "answer",
        "media_key",
        "delivery",
        "duration_s",
    )


@admin.register(GoldClip)
class GoldClipAdmin(AnswerKeysForAdminsOnly):
    answer_keys = ("answer",)
    list_display = ("id", "experiment", "source", "answer", "duration_s")
    list_filter = ("experiment",)
    readonly_fields = ("experiment", "source", "answer", "media_key", "delivery", "duration_s")


@admin.register(GoldStimulus)
class GoldStimulusAdmin(AnswerKeysForAdminsOnly):
    """Marked with `manage.py mark_gold`; read-only here so a mark always has a checked
    stimulus (prepared, not rated)."""

    answer_keys = ("score",)
    list_display = ("id", "experiment", "stimulus", "score", "marked_at")
    list_filter = ("experiment",)
    readonly_fields = ("experiment", "stimulus", "score", "marked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DigitsClip)
class DigitsClipAdmin(AnswerKeysForAdminsOnly):
    answer_keys = ("digits", "channels")
    list_display = ("id", "experiment", "digits", "channels", "duration_s")
    list_filter = ("experiment",)
    readonly_fields = ("experiment", "digits", "channels", "media_key", "delivery", "duration_s")


class SessionItemInline(admin.TabularInline[SessionItem, Session]):
    model = SessionItem
    fields = ("position", "stimulus", "trap", "gold")
    readonly_fields = ("position", "stimulus", "trap", "gold")
    extra = 0
    can_delete = False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin[Session]):
    list_display = ("id", "experiment", "kind", "index", "status", "updated_at")
    list_filter = ("experiment", "kind", "status")
    readonly_fields = ("experiment", "kind", "index")
    inlines = [SessionItemInline]
