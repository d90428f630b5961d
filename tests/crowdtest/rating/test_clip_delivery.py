"""The clip URL as a browser and a cheater see it: byte ranges, HEAD, ETag, one size for
every clip, bytes of one's own, and plays that count only after the audio went out."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crowdtest.design.models import Trap
from crowdtest.rating import delivery
from crowdtest.rating.clip_urls import clip_url
from crowdtest.rating.models import AssignmentItem
from tests.conftest import require_service

from .designs import Built, RaterClient, assignment_of, digits_of, make_design

pytestmark = pytest.mark.django_db

CLIP = b"\x00\x00\x00\x18ftypM4A " + bytes(range(256)) * 400  # 100 KiB, an MP4 head


@pytest.fixture(autouse=True)
def fresh_sizes() -> None:
    cache.clear()


@pytest.fixture
def built() -> Built:
    built = make_design(audio=CLIP, digits=("427", "58", "913"))
    # Traps as real ones are: not the size of the stimuli (here larger).
    for n, trap in enumerate(Trap.objects.filter(experiment=built.experiment)):
        name = default_storage.save(f"traps/t{n}.m4a", ContentFile(CLIP + b"\x01" * (999 + n)))
        Trap.objects.filter(pk=trap.pk).update(delivery=name)
    return built


def rater(client: Client, built: Built, who: str = "participant-1") -> RaterClient:
    rc = RaterClient(client, built.experiment, who)
    rc.post("consent")
    return rc


def first_item(rc: RaterClient) -> AssignmentItem:
    item = assignment_of(rc).items.first()
    assert item is not None
    return item


def every_key(rc: RaterClient) -> dict[str, str]:
    """Every clip key this rater can receive, by what it is."""
    assignment = assignment_of(rc)
    keys = {"volume": assignment.volume_clip_key, "digits": assignment.digits_clip_key}
    for item in assignment.items.all():
        keys[f"{'trap' if item.trap_id else 'stimulus'}-{item.pk}"] = item.clip_key
    return keys


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_ranges_head_and_etag(client: Client, built: Built) -> None:
    rc = rater(client, built)
    url = clip_url(first_item(rc).clip_key)
    whole = client.get(url)
    data = body(whole)
    size = len(data)
    assert whole.status_code == 200
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "audio/mp4"
    assert int(whole["Content-Length"]) == size and data.startswith(CLIP)

    first = client.get(url, HTTP_RANGE="bytes=0-1")
    assert first.status_code == 206 and body(first) == data[:2]
    assert first["Content-Range"] == f"bytes 0-1/{size}" and first["Content-Length"] == "2"
    tail = client.get(url, HTTP_RANGE="bytes=-100")
    assert tail.status_code == 206 and body(tail) == data[-100:]
    assert tail["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
    rest = client.get(url, HTTP_RANGE="bytes=100-")
    assert body(rest) == data[100:]
    beyond = client.get(url, HTTP_RANGE=f"bytes={size}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"
    several = client.get(url, HTTP_RANGE="bytes=0-1,5-9")
    assert several.status_code == 200 and body(several) == data  # may ignore: sends all

    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(size)
    assert body(head) == b""

    tag = whole["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=tag).status_code == 304
    stale = client.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"other"')
    assert stale.status_code == 200 and body(stale) == data


@pytest.mark.parametrize("expires", ["%C2%B9", "\u00b2", "9" * 40, "-1", ""])
def test_a_malformed_expiry_is_refused_not_a_server_error(client: Client, expires: str) -> None:
    assert client.get(f"/take/clip/abc?x={expires}&s=x").status_code == 403


def test_every_clip_is_one_size_and_no_two_raters_share_bytes(client: Client, built: Built) -> None:
    one, two = rater(client, built, "p-1"), rater(Client(), built, "p-2")
    sizes, headers = set(), set()
    seen: dict[str, bytes] = {}
    for who in (one, two):
        for kind, key in every_key(who).items():
            response = client.get(clip_url(key))
            data = body(response)
            sizes.add(len(data))
            headers.add(tuple(sorted(name.lower() for name in response.headers)))
            assert data not in seen.values(), f"{kind} has bytes another clip has"
            seen[f"{who.identity.external_id}-{kind}"] = data
    assert len(sizes) == 1, sizes  # traps, stimuli, volume and digits clips alike
    assert len(headers) == 1
    trap_sizes = {t.delivery.size for t in Trap.objects.filter(experiment=built.experiment)}
    assert min(trap_sizes) > len(CLIP)  # the files themselves do differ


def test_a_play_counts_only_after_the_audio_went_out(client: Client, built: Built) -> None:
    rc = rater(client, built)
    state = rc.state()
    digits = digits_of(rc)
    state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits}).json()
    math = assignment_of(rc).math_answer
    body_ = {"math": math, "hearing_normal": True, "headphones": True}
    clip = rc.post("questions", body_).json()["clips"][0]["clip"]

    refused = rc.post("play", {"clip": clip}, fetch=False)
    assert refused.status_code == 409 and refused.json()["code"] == "audio_not_loaded"

    # HEAD sends no audio; a first range of two bytes starts the player, no more.
    url = clip_url(clip)
    client.head(url)
    assert rc.post("play", {"clip": clip}, fetch=False).status_code == 409
    probe = client.get(url, HTTP_RANGE="bytes=0-1")
    assert len(body(probe)) == 2
    size = int(probe["Content-Range"].rsplit("/", 1)[1])
    item = AssignmentItem.objects.get(clip_key=clip)
    assert item.audio_requested_at is not None and item.audio_sent_at is None
    assert rc.post("play", {"clip": clip}, fetch=False).status_code == 200
    listened = timezone.now() - timedelta(seconds=60)  # the clip has long ended
    AssignmentItem.objects.filter(pk=item.pk).update(play_started_at=listened)
    late = rc.post("rate", {"clip": clip, "score": 4})
    assert late.status_code == 409 and late.json()["code"] == "audio_incomplete"

    # The rest, as a second range: now the whole clip went out.
    rest = client.get(url, HTTP_RANGE="bytes=2-")
    assert len(body(rest)) == size - 2
    assert AssignmentItem.objects.get(pk=item.pk).audio_sent_at is not None
    assert rc.post("rate", {"clip": clip, "score": 4}).status_code == 200


def test_audio_play_and_rate_lock_no_row_but_their_own(client: Client, built: Built) -> None:
    """No two row locks in different orders: play and rate lock the assignment alone;
    the audio's bookkeeping of a partial range locks the item alone. A lock query joining
    another table locks that table's row too (PostgreSQL's FOR UPDATE), which deadlocked a
    clip download against a rating under load."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "row locks are PostgreSQL's")
    rc = rater(client, built)
    state = rc.state()
    digits = digits_of(rc)
    state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits}).json()
    body_ = {"math": assignment_of(rc).math_answer, "hearing_normal": True, "headphones": True}
    clip = rc.post("questions", body_).json()["clips"][0]["clip"]
    AssignmentItem.objects.filter(clip_key=clip).update(duration_s=0)
    url = clip_url(clip)
    with CaptureQueriesContext(connection) as queries:
        assert len(body(client.get(url, HTTP_RANGE="bytes=0-1"))) == 2
        assert rc.post("play", {"clip": clip}).status_code == 200  # fetches the audio first
        assert rc.post("rate", {"clip": clip, "score": 4}).status_code == 200
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 3, locks  # the partial range's, then play's and rate's
    for sql in locks:  # no join, or a lock of the first table's rows only
        locked = sql.rsplit("FOR UPDATE", 1)[1]
        assert " JOIN " not in sql or re.fullmatch(r' OF "?\w+"?', locked), sql


@override_settings(CLIP_ACCEL_REDIRECT="/_protected/")
def test_behind_the_proxy_the_app_only_names_the_copy(client: Client, built: Built) -> None:
    rc = rater(client, built)
    item = first_item(rc)
    client.head(clip_url(item.clip_key))  # writes the copy: the clips' size is known now
    assert AssignmentItem.objects.get(pk=item.pk).audio_requested_at is None
    with CaptureQueriesContext(connection) as queries:
        response = client.get(clip_url(item.clip_key), HTTP_RANGE="bytes=0-")
    assert len(queries) == 2  # the key's clip, then one UPDATE: requested and sent
    target = response["X-Accel-Redirect"]
    assert target.startswith("/_protected/") and item.clip_key not in target
    assert body(response) == b""
    assert item.stimulus is not None
    copy = delivery.copy_path(delivery.Clip(item.clip_key, item.stimulus.delivery, 0, None))
    assert target.endswith(copy.name) and copy.is_file()
    sent = AssignmentItem.objects.get(pk=item.pk)
    assert sent.audio_sent_at is not None and sent.audio_requested_at is not None


def test_old_copies_are_swept_and_made_again(client: Client, built: Built) -> None:
    rc = rater(client, built)
    url = clip_url(first_item(rc).clip_key)
    before = body(client.get(url))
    copies = list(Path(settings.CLIP_ROOT).iterdir())
    old = time.time() - 7 * 3600
    for path in copies:
        os.utime(path, (old, old))
    assert delivery.sweep_copies() == len(copies) >= 1
    after = body(client.get(url))
    assert len(after) == len(before) and after != before  # new padding, same audio
    assert after[: len(CLIP)] == before[: len(CLIP)]


def test_range_parsing_edges() -> None:
    assert delivery.parse_range("", 10) is None
    assert delivery.parse_range("bytes=2-", 10) == (2, 9)
    assert delivery.parse_range("bytes=2-100", 10) == (2, 9)
    assert delivery.parse_range("bytes=-3", 10) == (7, 9)
    assert delivery.parse_range("bytes=-30", 10) == (0, 9)
    assert delivery.parse_range("bytes=5-2", 10) is None
    assert delivery.parse_range("items=0-1", 10) is None
    with pytest.raises(delivery.Unsatisfiable):
        delivery.parse_range("bytes=10-", 10)
    with pytest.raises(delivery.Unsatisfiable):
        delivery.parse_range("bytes=-0", 10)
    assert delivery.merge_ranges([[5, 9], [0, 2], [2, 5]]) == [[0, 9]]
