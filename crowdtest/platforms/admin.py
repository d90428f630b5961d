"""Admin for publications, submissions, checks, the payment ledger and cap lists. The
ledger is read-only except for a payment whose outcome is unknown, which a person who
checked the platform marks confirmed or failed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import (
    AssignmentCheck,
    Batch,
    CapGrant,
    CapList,
    ImportedAssignment,
    Payment,
    Publication,
    Submission,
)


class BatchInline(admin.TabularInline[Batch, Publication]):
    model = Batch
    fields = ("external_id", "places", "url", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin[Publication]):
    list_display = ("id", "experiment", "platform", "sandbox", "status", "sessions", "created_at")
    list_filter = ("platform", "sandbox", "status")
    readonly_fields = ("experiment", "platform", "sandbox", "type_id", "estimate", "created_by")
    inlines = [BatchInline]


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin[Submission]):
    list_display = ("external_id", "worker_id", "platform_status", "match", "assignment", "batch")
    list_filter = ("match", "platform_status")
    search_fields = ("external_id", "worker_id")
    readonly_fields = ("batch", "assignment")


@admin.register(AssignmentCheck)
class AssignmentCheckAdmin(admin.ModelAdmin[AssignmentCheck]):
    list_display = ("assignment", "state", "detail", "checked_at")
    list_filter = ("state",)
    readonly_fields = ("assignment",)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin[Payment]):
    list_display = ("id", "experiment", "kind", "worker_id", "amount_usd", "status", "updated_at")
    list_filter = ("kind", "status")
    search_fields = ("worker_id", "token", "external_ref")
    actions = ["mark_confirmed", "mark_failed"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Payment._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark as confirmed (checked on the platform: it was paid)")
    def mark_confirmed(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        self._mark(request, queryset, Payment.Status.CONFIRMED)

    @admin.action(description="Mark as failed (checked on the platform: it was not paid)")
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        self._mark(request, queryset, Payment.Status.FAILED)

    def _mark(self, request: HttpRequest, queryset: QuerySet[Payment], status: str) -> None:
        if not request.user.has_perm("platforms.execute_payments"):
            self.message_user(request, "This needs platforms.execute_payments.", messages.ERROR)
            return
        n = queryset.filter(status=Payment.Status.SENT).update(status=status)
        self.message_user(request, f"{n} payment(s) whose outcome was unknown marked {status}.")


@admin.register(CapList)
class CapListAdmin(admin.ModelAdmin[CapList]):
    list_display = ("experiment", "platform", "sandbox", "external_id", "created_at")


@admin.register(CapGrant)
class CapGrantAdmin(admin.ModelAdmin[CapGrant]):
    list_display = ("rater", "cap_list", "status", "updated_at")
    list_filter = ("status",)
    readonly_fields = ("rater", "cap_list")


@admin.register(ImportedAssignment)
class ImportedAssignmentAdmin(admin.ModelAdmin[ImportedAssignment]):
    list_display = ("assignment", "source", "line", "amt_status", "imported_at")
    readonly_fields = ("assignment",)
