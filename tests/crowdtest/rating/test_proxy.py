"""The clip URL through a real nginx (Debian's) in front of the app: nginx sends the
bytes the app names in X-Accel-Redirect, with ranges, HEAD and conditional requests."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from crowdtest.rating.clip_urls import clip_url
from crowdtest.rating.models import AssignmentItem
from deploy.nginx import nginx_binary, running_nginx
from tests.conftest import require_service

from .designs import RaterClient, assignment_of, make_design

pytestmark = pytest.mark.django_db(transaction=True)

CLIP = b"\x00\x00\x00\x18ftypM4A " + bytes(range(256)) * 100


@pytest.fixture
def proxy(live_server: LiveServer, settings: Settings, tmp_path: Path) -> Iterator[str]:
    require_service("nginx", nginx_binary() is not None, "apt-get install nginx-light")
    cache.clear()
    settings.CLIP_ACCEL_REDIRECT = "/_protected/"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    Path(settings.CLIP_ROOT).mkdir(parents=True, exist_ok=True)
    with running_nginx(
        upstream=urlsplit(live_server.url).netloc,
        clip_root=settings.CLIP_ROOT,
        static_root=tmp_path / "static",
        workdir=tmp_path / "nginx",
    ) as base:
        yield base


class Answer(http.client.HTTPResponse):
    """nginx's answer, its body read whole into `data`."""

    data = b""


def fetch(base: str, path: str, method: str = "GET", **headers: str) -> Answer:
    parts = urlsplit(base)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.response_class = Answer
    connection.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = connection.getresponse()
    assert isinstance(response, Answer)
    response.data = response.read()
    connection.close()
    return response


def test_nginx_serves_ranges_head_and_304_for_the_app(client: Client, proxy: str) -> None:
    built = make_design(audio=CLIP)
    rc = RaterClient(client, built.experiment)
    rc.post("consent")
    item = assignment_of(rc).items.first()
    assert item is not None
    url = clip_url(item.clip_key)

    whole = fetch(proxy, url)
    size = len(whole.data)
    assert whole.status == 200 and whole.data.startswith(CLIP) and size > len(CLIP)
    assert whole.getheader("Content-Type") == "audio/mp4"
    assert whole.getheader("Accept-Ranges") == "bytes"
    assert whole.getheader("X-Accel-Redirect") is None  # the internal name stays inside
    assert AssignmentItem.objects.get(pk=item.pk).audio_sent_at is not None

    first = fetch(proxy, url, Range="bytes=0-1")
    assert first.status == 206 and first.data == whole.data[:2]
    assert first.getheader("Content-Range") == f"bytes 0-1/{size}"
    tail = fetch(proxy, url, Range="bytes=-10")
    assert tail.status == 206 and tail.data == whole.data[-10:]
    assert fetch(proxy, url, Range=f"bytes={size}-").status == 416
    head = fetch(proxy, url, "HEAD")
    assert head.status == 200 and head.getheader("Content-Length") == str(size)
    etag = whole.getheader("ETag")
    assert etag is not None
    assert fetch(proxy, url, If_None_Match=etag).status == 304

    assert fetch(proxy, "/_protected/" + whole.getheader("ETag", "x")).status == 404
    forged = url.replace("s=", "s=0")
    assert fetch(proxy, forged).status == 403
