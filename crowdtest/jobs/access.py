"""Who may see and cancel a job: the staff who may see the pages that start jobs, and,
for a kind whose start needs a permission (executing payments, say), only those who hold
it may cancel one. Apps name the permission of their kinds when they load."""

from __future__ import annotations

from typing import Any

from .models import Job

_CANCEL_PERMISSIONS: dict[str, str] = {}


def job_kind_permission(kind: str, permission: str) -> None:
    """Starting a `kind` job needs `permission` ("app_label.codename"), so does cancelling one."""
    _CANCEL_PERMISSIONS[kind] = permission


def may_see_job(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def may_cancel_job(user: Any, job: Job) -> bool:
    needed = _CANCEL_PERMISSIONS.get(job.kind)
    return may_see_job(user) and (needed is None or bool(user.has_perm(needed)))
