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

from crowdtest.corpus.models import Stimulus
from crowdtest.design.models import Comparison, GoldClip, Trap

from . import statements
from .delivery import Clip
from .models import Assignment

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
    with statements.cursor() as cursor:
        cursor.execute(statements.clip_item(), [key])
        row = cursor.fetchone()
    if row is not None:
        item_id, experiment_id, stimulus_file, trap_file, gold_file, comparison_file = row
        if stimulus_file:
            return Clip(key, Stimulus(delivery=stimulus_file).delivery, experiment_id, item_id)
        if trap_file:
            return Clip(key, Trap(delivery=trap_file).delivery, experiment_id, item_id)
        if gold_file:
            return Clip(key, GoldClip(delivery=gold_file).delivery, experiment_id, item_id)
        if comparison_file:
            stored = Comparison(delivery=comparison_file).delivery
            return Clip(key, stored, experiment_id, item_id)
        return None
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
