"""The web process as deployed: Debian's nginx with crowdtest's configuration in front of
gunicorn with deploy/gunicorn.conf.py, real processes on the test database. Slow and
stalled clients hold nginx connections, not the site; a killed worker loses no answer;
an answer sent twice at once is stored once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from crowdtest.rating.identity import RaterIdentity, rater_token
from crowdtest.rating.models import Assignment, AssignmentItem, Vote
from deploy.nginx import free_port, nginx_binary, running_nginx
from tests.conftest import database_url_for_subprocess, require_service
from tests.crowdtest.rating.designs import Built, make_design

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
THREADS = 8  # deploy/gunicorn.conf.py's default per worker
CLIP_BYTES = 1_500_000  # ~3 minutes at 64 kbit/s: a slow reader takes minutes over it

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


class Deployed:
    """`gunicorn -c deploy/gunicorn.conf.py` on a free port with nginx in front of it (on
    another), on the test database."""

    def __init__(self, tmp_path: Path, stack: ExitStack) -> None:
        from django.conf import settings

        require_service("nginx", nginx_binary() is not None, "apt-get install nginx-light")
        app_port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update(
            DJANGO_SETTINGS_MODULE="crowdtest.settings",
            CROWDTEST_INSECURE_DEFAULTS="1",
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1",
            SECURE_SSL_REDIRECT="0",
            TASKS_IN_PROCESS="sync",
            DATABASE_URL=database_url_for_subprocess(),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CLIP_ROOT=str(settings.CLIP_ROOT),
            CROWDTEST_ACCEL_REDIRECT="/_protected/",
            GUNICORN_BIND=f"127.0.0.1:{app_port}",
            GUNICORN_WORKERS=str(WORKERS),
            GUNICORN_LOG_LEVEL="warning",
            LOG_LEVEL="WARNING",
        )
        self.log_path = tmp_path / f"gunicorn-{app_port}.log"
        log = stack.enter_context(self.log_path.open("w"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(self.stop)
        self.base = stack.enter_context(
            running_nginx(
                upstream=f"127.0.0.1:{app_port}",
                clip_root=settings.CLIP_ROOT,
                static_root=tmp_path / "static",
                workdir=tmp_path / "nginx",
            )
        )
        self.port = int(self.base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log_path.read_text())
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).ok and self.workers():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start:\n" + self.log_path.read_text())

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Deployed]:
    with ExitStack() as stack:
        yield Deployed(tmp_path, stack)


@pytest.fixture
def built() -> Built:
    return make_design(votes=4, audio=b"\x00\x00\x00\x18ftypM4A " + b"\x00" * CLIP_BYTES)


class HttpRater:
    """A rater talking to the live server like the page: fetch a clip, play, rate."""

    def __init__(self, base: str, experiment: Any, external_id: str) -> None:
        self.base = base
        self.identity = RaterIdentity(experiment.pk, "link", external_id)
        self.http = requests.Session()
        self.http.headers["X-Rater-Token"] = rater_token(self.identity)

    def call(self, name: str, body: Any = None, timeout: float = 30) -> requests.Response:
        if name == "state":
            return self.http.get(f"{self.base}/api/state", timeout=timeout)
        return self.http.post(f"{self.base}/api/{name}", json=body, timeout=timeout)

    def api(self, name: str, body: Any = None) -> dict[str, Any]:
        response = self.call(name, body)
        assert response.status_code == 200, (name, response.status_code, response.text)
        return dict(response.json())

    def fetch(self, url: str) -> None:
        assert self.http.get(f"{self.base}{url}", timeout=30).status_code == 200

    def assignment(self) -> Assignment:
        return Assignment.objects.select_related("digits_clip").get(
            rater__external_id=self.identity.external_id
        )

    def to_rating(self) -> dict[str, Any]:
        """Consent, setup, questions and training done; the first rating clip fetched."""
        state = self.api("consent")
        self.fetch(state["setup"]["volume_url"])
        self.fetch(state["setup"]["digits_url"])
        digits_clip = self.assignment().digits_clip
        assert digits_clip is not None
        digits = digits_clip.digits
        state = self.api("setup", {"clip": state["setup"]["clip"], "digits": digits})
        body = {"math": self.assignment().math_answer, "hearing_normal": True, "headphones": True}
        state = self.api("questions", body)
        while state["stage"] == "training":
            for clip in state["clips"]:
                if not clip["rated"]:
                    self.listen(clip)
                    self.rate(clip, 3)
            state = self.api("state")
        assert state["stage"] == "rating", state["stage"]
        return state

    def listen(self, clip: dict[str, Any]) -> None:
        self.fetch(clip["url"])
        self.api("play", {"clip": clip["clip"]})
        time.sleep(0.25)  # the factory clips last 0.2 s

    def answer(self, clip: dict[str, Any], score: int) -> dict[str, Any]:
        """The body that rates `clip`: `score`, or the trap's own answer on a trap."""
        item = AssignmentItem.objects.select_related("trap").get(clip_key=clip["clip"])
        return {"clip": clip["clip"], "score": item.trap.answer if item.trap else score}

    def rate(self, clip: dict[str, Any], score: int) -> requests.Response:
        return self.call("rate", self.answer(clip, score))


def slow_reader(url: str, stop: threading.Event, received: list[int]) -> None:
    """Downloads `url` at about 4 KB/s through a small receive window, like a phone on a
    bad link, until told to stop."""
    host, rest = url.removeprefix("http://").split("/", 1)
    address, port = host.split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((address, int(port)))
        sock.sendall(f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        sock.settimeout(5)
        total = 0
        while not stop.is_set():
            chunk = sock.recv(1024)
            if not chunk:
                break
            total += len(chunk)
            time.sleep(0.25)
        received.append(total)


def test_slow_readers_of_a_clip_do_not_delay_another_raters_answer(
    server: Deployed, built: Built
) -> None:
    slow = HttpRater(server.base, built.experiment, "slow-phone")
    clip_url = server.base + slow.to_rating()["clips"][0]["url"]
    other = HttpRater(server.base, built.experiment, "other-rater")
    state = other.to_rating()

    stop = threading.Event()
    received: list[int] = []
    readers = [
        threading.Thread(target=slow_reader, args=(clip_url, stop, received))
        for _ in range(WORKERS * THREADS + 1)  # more than the app has threads
    ]
    for reader in readers:
        reader.start()
    try:
        time.sleep(1.0)  # every slow download under way
        clip = state["clips"][0]
        started = time.perf_counter()
        other.listen(clip)
        response = other.rate(clip, 4)
        elapsed = time.perf_counter() - started - 0.25
        assert response.status_code == 200, response.text
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=10)
    assert elapsed < 2.0, f"another rater waited {elapsed:.1f} s behind slow downloads"
    # The slow readers were still downloading: what they got is a fraction of the clip.
    assert len(received) == len(readers) and max(received) < CLIP_BYTES // 2
    assert Vote.objects.filter(item__clip_key=clip["clip"]).count() == 1


def test_half_sent_request_bodies_do_not_block_healthz(server: Deployed, built: Built) -> None:
    rater = HttpRater(server.base, built.experiment, "stalled")
    clip = rater.to_rating()["clips"][0]
    rater.listen(clip)
    token = rater.http.headers["X-Rater-Token"]
    assert isinstance(token, str)
    head = (
        f"POST /api/rate HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/json\r\nX-Rater-Token: {token}\r\n"
        "Content-Length: 200\r\n\r\n"
    ).encode()
    # More stalled bodies than the app has threads: nginx holds them, not the app.
    stalled = []
    for _ in range(WORKERS * THREADS + 1):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(head + b'{"clip": "')
        stalled.append(sock)
    try:
        time.sleep(1.0)
        started = time.perf_counter()
        health = requests.get(f"{server.base}/healthz", timeout=10)
        assert health.status_code == 200
        assert time.perf_counter() - started < 2.0
        # A rater's own request gets through too, and the stalled answer was not stored.
        assert rater.call("state", timeout=10).status_code == 200
        assert not Vote.objects.filter(item__clip_key=clip["clip"]).exists()
    finally:
        for sock in stalled:
            sock.close()
    assert rater.rate(clip, 4).status_code == 200
    assert Vote.objects.filter(item__clip_key=clip["clip"]).count() == 1


def test_a_rating_sent_twice_at_once_is_stored_once(server: Deployed, built: Built) -> None:
    rater = HttpRater(server.base, built.experiment, "double-click")
    state = rater.to_rating()
    for clip in state["clips"]:
        rater.listen(clip)
        with ThreadPoolExecutor(max_workers=4) as pool:
            body = rater.answer(clip, 5)
            answers = list(pool.map(rater.call, ["rate"] * 4, [body] * 4))
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert Vote.objects.filter(item__clip_key=clip["clip"]).count() == 1
    assert Vote.objects.filter(assignment=rater.assignment()).count() == len(
        AssignmentItem.objects.filter(assignment=rater.assignment())
    )


def test_a_killed_worker_loses_no_answer(server: Deployed, built: Built) -> None:
    rater = HttpRater(server.base, built.experiment, "before-and-after")
    state = rater.to_rating()
    first, second = state["clips"][0], state["clips"][1]
    rater.listen(first)
    assert rater.rate(first, 2).status_code == 200
    rater.listen(second)
    victims = server.workers()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    # The page resends an answer that got no reply; the master forks new workers.
    deadline = time.monotonic() + 30
    while True:
        try:
            response = rater.rate(second, 2)
            if response.status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "no worker answered after the kill"
        time.sleep(0.2)
    # The master reaps the killed workers and forks new ones (a reaped pid leaves its list).
    deadline = time.monotonic() + 20
    while set(victims) & set(server.workers()) or len(server.workers()) < WORKERS:
        assert time.monotonic() < deadline, f"workers not replaced: {server.workers()}"
        time.sleep(0.2)
    assert Vote.objects.filter(item__clip_key__in=[first["clip"], second["clip"]]).count() == 2
    assert rater.rate(second, 2).status_code == 200  # resent once more: still one vote
    assert Vote.objects.filter(item__clip_key=second["clip"]).count() == 1
