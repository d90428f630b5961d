"""Signed, opaque audio URLs: `/take/clip/<key>?x=<expiry>&s=<signature>`.

Every clip a rater hears (rated stimuli, traps, the setup's volume and digits clips) has a
per-assignment random key of one format and length, so nothing in a URL tells a trap from
a stimulus or says which stimulus it is. The expiry is rounded to the hour, so a clip
keeps its URL (and the browser its cached copy) across state reloads.
"""

from __future__ import annotations

import time

from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from .delivery import Clip
from .models import Assignment, AssignmentItem

CLIP_SALT = "crowdtest.rating.clip"
LIFETIME_S = 2 * 3600
BUCKET_S = 3600


def _signature(key: str, expires: int) -> str:
    return salted_hmac(CLIP_SALT, f"{key}:{expires}", algorithm="sha256").hexdigest()


def clip_url(key: str, *, now: float | None = None) -> str:
    now = time.time() if now is None else now
    expires = (int(now + LIFETIME_S) // BUCKET_S + 1) * BUCKET_S
    path = reverse("rating:clip", kwargs={"key": key})
    return f"{path}?x={expires}&s={_signature(key, expires)}"


def clip_signature_valid(
    key: str, expires: str, signature: str, *, now: float | None = None
) -> bool:
    now = time.time() if now is None else now
    # ASCII digits only: str.isdigit() also takes "¹²", which int() refuses.
    if not (0 < len(expires) <= 12 and expires.isascii() and expires.isdigit()):
        return False
    if int(expires) < now:
        return False
    return constant_time_compare(signature, _signature(key, int(expires)))


def clip_for_key(key: str) -> Clip | None:
    """The clip behind a key, or None for a key nobody was given."""
    item = (
        AssignmentItem.objects.filter(clip_key=key)
        .select_related("stimulus", "trap", "assignment")
        .only(
            "stimulus",
            "trap",
            "assignment",
            "stimulus__delivery",
            "trap__delivery",
            "assignment__experiment_id",
        )
        .first()
    )
    if item is not None:
        source = item.stimulus if item.stimulus is not None else item.trap
        if source is None or not source.delivery:
            return None
        return Clip(key, source.delivery, item.assignment.experiment_id, item.pk)
    assignment = (
        Assignment.objects.filter(volume_clip_key=key).select_related("experiment__design").first()
    )
    if assignment is not None:
        design = getattr(assignment.experiment, "design", None)
        if design is None or not design.volume_clip:
            return None
        return Clip(key, design.volume_clip, assignment.experiment_id, None)
    assignment = (
        Assignment.objects.filter(digits_clip_key=key).select_related("digits_clip").first()
    )
    if assignment is not None and assignment.digits_clip is not None:
        return Clip(key, assignment.digits_clip.delivery, assignment.experiment_id, None)
    return None
