from django.contrib import admin

from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = ("id", "kind", "scope", "status", "done", "failed", "total", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("scope", "message")
    readonly_fields = [f.name for f in Job._meta.fields]
