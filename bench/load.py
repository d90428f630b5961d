"""Load: crowds of raters taking whole sessions at once, against the web process as
deployed (gunicorn, PostgreSQL, nginx in front), the old serving path and the new one in
the same run.

A scratch database gets a small real experiment built with the product's own commands
(synthetic tracks imported, prepared, clustered; real prompts, traps, digits and
sessions) with 10 s stimuli at the product's delivery bitrate, as raters hear them. Then,
for each path and each step of the ramp, that many raters arrive (10 a second) and each
does what the page does:
open the participant link, state, consent, setup digits, questions, then per clip fetch
the audio (a share of raters on a throttled link), `play`, wait for the clip to end,
`rate` (waiting again on 409 too_early), and `finish`. A request that gets no answer is
resent, as the page does (so is one whose answer is cut off half-way). The digits are
read from the database (a stand-in for ears); the math question is solved from its text.
On a PostgreSQL server with autovacuum off, the scratch database gets VACUUM (ANALYZE)
before each step, as autovacuum would have kept it (`--no-vacuum`: not).

Paths:
  old   gunicorn sync workers (3) running WSGI; the app streams clip bytes itself.
  new   as deployed: gunicorn gthread workers (one per core) behind Debian's nginx, which
        buffers requests and answers and sends the clip bytes the app names in
        X-Accel-Redirect.
  asgi  (on request) gunicorn's ASGI worker (one per core) behind the same nginx.

Per step: answers/s, requests/s, p50/p95/p99 per endpoint, errors, answers sent = stored
(and none stored twice), and the CPU of the load generator, the app server, nginx and
PostgreSQL (in % of one core: the generator runs on the same cores). A path's ramp stops
at the first step that misses `rate` p99 < 250 ms with nothing lost. Then, on the new
path, a step with faults: a web worker killed with SIGKILL mid-run, requests dropped
half-way, and every `rate` sent twice at once.

    python -m bench load -- --steps 250,500,750,1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import numpy as np
import psycopg

from modeling.crowd import SimulatedRater

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r'data-token="([^"]+)"')
MATH = re.compile(r"What is (\d+) (plus|minus) (\d+)\?")
PUBLIC = "http://bench.invalid"
GOAL_P99_S = 0.250
ENDPOINTS = ("page", "state", "consent", "setup", "questions", "clip", "play", "rate", "finish")
# No answer, or an answer cut off half-way (a worker killed mid-response): the page resends.
RETRYABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


@dataclass(frozen=True)
class ServingPath:
    name: str
    worker_class: str
    workers: int
    proxy: bool


PATHS = {
    "old": ServingPath("old", "sync", 3, proxy=False),
    "new": ServingPath("new", "gthread", os.cpu_count() or 2, proxy=True),
    "asgi": ServingPath("asgi", "asgi", os.cpu_count() or 2, proxy=True),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__)
    parser.add_argument("--steps", default="250,500,750,1000", help="raters per step")
    parser.add_argument("--paths", default="old,new", help="old,new (and asgi)")
    parser.add_argument("--faults", type=int, default=500, help="raters in the faults step")
    parser.add_argument("--clip-seconds", type=float, default=10.0, help="stimulus length (10 s)")
    parser.add_argument(
        "--bitrate-kbps",
        type=int,
        default=0,
        help="the clips' delivery bitrate (default: the product's own)",
    )
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=10.0,
        help="raters arriving per second (10: a step of 1,000 arrives over 100 s)",
    )
    parser.add_argument("--slow-share", type=float, default=0.2, help="raters on a slow link")
    parser.add_argument("--slow-kbps", type=float, default=1000.0, help="their link (1 Mbit/s)")
    parser.add_argument("--tracks", type=int, default=40, help="synthetic tracks (40)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument("--database", default="crowdtest_bench_load", help="scratch database")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--no-vacuum",
        action="store_true",
        help="on a server with autovacuum off, do not VACUUM (ANALYZE) between steps either",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="app processes of the new path (one per core)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="threads per gthread worker (the conf's default)"
    )
    options = parser.parse_args(argv)
    try:
        steps = [int(n) for n in options.steps.split(",") if n.strip()]
        paths = [PATHS[name.strip()] for name in options.paths.split(",") if name.strip()]
    except (ValueError, KeyError) as exc:
        parser.error(f"--steps takes whole numbers, --paths old, new or asgi ({exc})")
    if any(n < 1 for n in steps):
        parser.error("each step of --steps is at least 1 rater")
    if min(options.workers, options.threads, options.bitrate_kbps, options.faults) < 0:
        parser.error("--workers, --threads, --bitrate-kbps and --faults can't be negative")
    if options.workers:
        paths = [replace(p, workers=options.workers) if p.proxy else p for p in paths]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        root = Path(folder)
        env = environment(options, root)
        options.autovacuum = reset_database(options)
        try:
            total = sum(steps) * len(paths) + (options.faults if "new" in options.paths else 0)
            links = build_experiment(options, env, root, total)
            served: dict[str, int] = {}
            for path in paths if steps else []:
                served[path.name] = ramp(options, env, root, path, steps, links)
            new = next((p for p in paths if p.name == "new"), None)
            if options.faults and new is not None:
                vacuum(options)
                with serving(options, env, root, new) as server:
                    batch = [links.pop() for _ in range(options.faults)]
                    report = run_step(options, server, batch, faults=True)
                print_step(options, new, report, title="with faults")
            if served:
                print("\nlargest crowd served with rate p99 < 250 ms and nothing lost:")
            for name, raters in served.items():
                print(f"  {name} path: {raters or 'none of the steps'} raters")
        finally:
            if not options.keep:
                drop_database(options.server, options.database)


def environment(options: argparse.Namespace, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DEBUG")}
    env.update(
        DJANGO_SETTINGS_MODULE="crowdtest.settings",
        DATABASE_URL=f"{options.server}/{options.database}",
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        MEDIA_ROOT=str(root / "media"),
        STATIC_ROOT=str(root / "static"),
        CLIP_ROOT=str(root / "clips"),
        IMPORT_ROOTS=str(root),
        # Screening after `finish` runs after the answer, as a worker would, not inside it.
        TASKS_IN_PROCESS="thread",
        PUBLIC_BASE_URL=PUBLIC,
        LOG_LEVEL="WARNING",
    )
    return env


def reset_database(options: argparse.Namespace) -> bool:
    """A new scratch database; whether the server's autovacuum is on."""
    with psycopg.connect(f"{options.server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{options.database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{options.database}"')
        row = connection.execute("SHOW autovacuum").fetchone()
    autovacuum = row[0] if row else "unknown"
    # Without autovacuum the dead versions of every updated row stay in the indexes and the
    # planner keeps the row counts of empty tables, so each step would run on a more
    # bloated database than the one before, unlike a deployment's (PostgreSQL's default,
    # and docker-compose.yml's, is on).
    if autovacuum == "on":
        print("PostgreSQL: autovacuum on", flush=True)
    elif options.no_vacuum:
        print(f"PostgreSQL: autovacuum {autovacuum}, and no VACUUM between steps", flush=True)
    else:
        print(
            f"PostgreSQL: autovacuum {autovacuum} on this server (its default is on): the "
            "scratch database gets VACUUM (ANALYZE) before each step instead",
            flush=True,
        )
    return autovacuum == "on"


def vacuum(options: argparse.Namespace) -> None:
    """What autovacuum would have done by now, between steps (not timed)."""
    if options.autovacuum or options.no_vacuum:
        return
    started = time.perf_counter()
    with psycopg.connect(f"{options.server}/{options.database}", autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
    print(f"  (VACUUM (ANALYZE) took {time.perf_counter() - started:.1f} s)", flush=True)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, "TASKS_IN_PROCESS": "sync"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build_experiment(
    options: argparse.Namespace, env: dict[str, str], root: Path, raters: int
) -> list[str]:
    """A real experiment, built with the product's own commands; returns one participant
    link per rater."""
    from modeling.synth import write_demo_corpus

    started = time.perf_counter()
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input")
    write_demo_corpus(
        root / "tracks",
        n_tracks=options.tracks,
        seconds=options.clip_seconds + 1.0,
        sample_rate=44100,  # as records are digitised: the delivery bitrate is used in full
        seed=11,
    )
    settings = {
        "excerpt_seconds": options.clip_seconds,
        "n_clusters": 4,
        "stimuli_per_cluster": 2,
        "training_size": 2,
        "trap_sources": 4,
    }
    if options.bitrate_kbps:
        settings["delivery_bitrate_kbps"] = options.bitrate_kbps
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    manage(env, "create_experiment", "bench", "--name", "Load benchmark", *sets)
    manage(env, "import_tracks", "bench", str(root / "tracks" / "manifest.csv"))
    manage(env, "prepare_stimuli", "bench")
    manage(env, "cluster_stimuli", "bench")
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        largest = connection.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM corpus_stimulus "
            "WHERE role = 'rated' GROUP BY cluster) AS sizes"
        ).fetchone()
    size = int(largest[0]) if largest and largest[0] else 1
    votes = -(-raters * settings["stimuli_per_cluster"] // size)  # sessions >= raters
    manage(
        env, "build_sessions", "bench", "--votes-per-stimulus", str(votes), "--digits-clips", "5"
    )
    output = manage(env, "publish", "bench", "--platform", "link", "--participants", str(raters))
    links = re.findall(rf"{re.escape(PUBLIC)}\S+", output)
    random.Random(5).shuffle(links)
    print(
        f"experiment: {options.tracks} tracks, {size} stimuli per cluster kept, {votes} votes per "
        f"stimulus, {len(links)} participant links, {options.clip_seconds:g} s clips; built in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return links


# --- The server ---------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    master: subprocess.Popen[bytes]
    nginx_pids: list[int] = field(default_factory=list)

    def workers(self) -> list[int]:
        return children(self.master.pid)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


@contextmanager
def serving(
    options: argparse.Namespace, env: dict[str, str], root: Path, path: ServingPath
) -> Iterator[Server]:
    """gunicorn as deploy/gunicorn.conf.py runs it (with the path's worker class), and for
    the new path nginx in front of it."""
    from deploy.nginx import running_nginx

    app_port = options.port + 1 if path.proxy else options.port
    server_env = {
        **env,
        "GUNICORN_WORKER_CLASS": path.worker_class,
        "GUNICORN_WORKERS": str(path.workers),
        **({"GUNICORN_THREADS": str(options.threads)} if options.threads else {}),
        "GUNICORN_BIND": f"127.0.0.1:{app_port}",
        "GUNICORN_LOG_LEVEL": "warning",
        "CROWDTEST_ACCEL_REDIRECT": "/_protected/" if path.proxy else "",
    }
    log = (root / f"gunicorn-{path.name}.log").open("a")
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped whole, workers included
    )
    with ExitStack() as stack:
        try:
            base = f"http://127.0.0.1:{app_port}"
            if path.proxy:
                base = stack.enter_context(
                    running_nginx(
                        upstream=f"127.0.0.1:{app_port}",
                        clip_root=env["CLIP_ROOT"],
                        static_root=env["STATIC_ROOT"],
                        workdir=root / f"nginx-{path.name}",
                        port=options.port,
                    )
                )
            server = Server(base, master)
            try:
                asyncio.run(wait_until_up(server, path.workers))
            except SystemExit:
                log.flush()
                lines = (root / f"gunicorn-{path.name}.log").read_text().splitlines()
                print("\n".join(["gunicorn's log ends:", *lines[-30:]]), file=sys.stderr)
                raise
            if path.proxy:
                server.nginx_pids = nginx_processes(root / f"nginx-{path.name}" / "nginx.pid")
            yield server
        finally:
            os.killpg(master.pid, signal.SIGTERM)
            try:
                master.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(master.pid, signal.SIGKILL)
                master.wait()
            log.close()


def nginx_processes(pid_file: Path) -> list[int]:
    try:
        master = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [master, *children(master)]


async def wait_until_up(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{server.base}/healthz") as response:
                    if response.status == 200 and len(server.workers()) >= workers:
                        break
            except RETRYABLE:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start on {server.base}")
            await asyncio.sleep(0.3)
        # Every worker has its URLconf and database connections before measuring.
        for _ in range(workers * 8):
            async with http.get(f"{server.base}/api/openapi.json") as response:
                await response.read()


# --- CPU accounting ------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class CpuMeter:
    """CPU seconds of each part since `start`, counting processes that appear meanwhile."""

    server: Server
    begun: dict[str, dict[int, float]] = field(default_factory=dict)
    seen: dict[int, float] = field(default_factory=dict)  # the latest CPU seconds of each
    generator: float = 0.0

    def parts(self) -> dict[str, list[int]]:
        return {
            "app": [self.server.master.pid, *self.server.workers()],
            "nginx": self.server.nginx_pids,
            "postgres": postgres_pids(),
        }

    def start(self) -> None:
        self.generator = time.process_time()
        self.begun = {
            part: {pid: cpu_seconds(pid) for pid in pids} for part, pids in self.parts().items()
        }

    def sample(self) -> None:
        """Note processes started since (a worker forked after a kill) at zero, and what
        each has used so far (a process that exits keeps what it used)."""
        for part, pids in self.parts().items():
            for pid in pids:
                self.begun[part].setdefault(pid, 0.0)
        for begun in self.begun.values():
            for pid in begun:
                self.seen[pid] = max(self.seen.get(pid, 0.0), cpu_seconds(pid))

    def used(self) -> dict[str, float]:
        spent = {
            part: sum(
                max(0.0, max(cpu_seconds(pid), self.seen.get(pid, 0.0)) - start)
                for pid, start in begun.items()
            )
            for part, begun in self.begun.items()
        }
        return {"generator": time.process_time() - self.generator, **spent}

    def snapshot(self) -> tuple[float, dict[str, float]]:
        """The time and the CPU seconds used so far by each part and by the whole machine
        (every process and the kernel: /proc/stat's busy time)."""
        used = self.used()
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
        used["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / TICKS  # less idle, iowait
        return time.perf_counter(), used


# --- The crowd ----------------------------------------------------------------------------


@dataclass
class Report:
    raters: int
    faults: bool = False
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    answered: set[str] = field(default_factory=set)
    resent: int = 0
    too_early: int = 0
    dropped: int = 0
    killed: list[int] = field(default_factory=list)
    slow_downloads: list[float] = field(default_factory=list)
    clip_bytes: list[int] = field(default_factory=list)
    sessions_done: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    # CPU while every rater of the step was in session (sampled each second): the peak load
    peak_cpu: dict[str, float] = field(default_factory=dict)
    peak_window: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    stored: int = 0
    stored_twice: int = 0
    # When each `rate` was answered, and when the last rater arrived: a queue that forms
    # while sessions start (consent allocates one) shows in the first part.
    rated_at: list[tuple[float, float]] = field(default_factory=list)
    arrivals_end: float = 0.0

    # Raters in session at once (from opening the link to the end of their session): the
    # most at any moment, and for how long all of the step's raters were in at once.
    in_session: int = 0
    peak_in_session: int = 0
    all_in_since: float | None = None
    all_in_s: float = 0.0

    def arrived(self) -> None:
        self.in_session += 1
        self.peak_in_session = max(self.peak_in_session, self.in_session)
        if self.in_session == self.raters:
            self.all_in_since = time.perf_counter()

    def left(self) -> None:
        if self.in_session == self.raters and self.all_in_since is not None:
            self.all_in_s += time.perf_counter() - self.all_in_since
            self.all_in_since = None
        self.in_session -= 1

    def record(self, endpoint: str, seconds: float, status: int) -> None:
        self.latencies[endpoint].append(seconds)
        if endpoint == "rate":
            self.rated_at.append((time.perf_counter(), seconds))
        if status >= 500 or (status >= 400 and status not in (409, 429)):
            self.errors[endpoint] += 1

    @property
    def lost(self) -> int:
        return len(self.answered) - self.stored

    def nothing_lost(self) -> bool:
        return (
            self.lost == 0
            and self.stored_twice == 0
            and not self.failures
            and self.sessions_done == self.raters
        )

    def passed(self) -> bool:
        rate = self.latencies.get("rate") or [float("inf")]
        return percentile(rate, 99) < GOAL_P99_S and self.nothing_lost()


class Rater:
    """One simulated rater doing what the page does; the answers are a cheater's of the
    simulated crowd (`modeling.crowd`): traps right, the music scored uniformly at random
    without listening (the load is what is measured, not the scores)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base: str,
        link: str,
        report: Report,
        database: Lookup,
        *,
        wait: float,
        link_kbps: float | None,
        faults: bool,
        seed: int,
    ) -> None:
        self.http, self.base, self.link, self.report = http, base, link, report
        self.database, self.wait, self.link_kbps, self.faults = database, wait, link_kbps, faults
        self.token = ""
        self.known: dict[str, int | None] = {}
        self.answers = SimulatedRater(strategy="uniform")
        self.rng = np.random.default_rng(seed)

    async def call(
        self, endpoint: str, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        """One request, resent (like the page) while it gets no answer or a 5xx."""
        headers = {"X-Rater-Token": self.token} if self.token else {}
        for attempt in range(20):
            started = time.perf_counter()
            try:
                async with self.http.request(
                    method, f"{self.base}{path}", json=body, headers=headers
                ) as response:
                    if response.content_type == "application/json":
                        payload: Any = await response.json()
                    else:
                        payload = await response.text()
                    self.report.record(endpoint, time.perf_counter() - started, response.status)
                    if response.status < 500:
                        return response.status, payload
                    # The page resends on a 5xx (a gateway without a worker, say).
                    self.report.resent += 1
                    await asyncio.sleep(0.5 + attempt * 0.5)
                    continue
            except RETRYABLE:
                self.report.errors[endpoint] += 1
                self.report.resent += 1
                await asyncio.sleep(0.5 + attempt * 0.5)
        raise RuntimeError(f"{endpoint}: no answer after 20 tries")

    async def api(self, name: str, body: Any = None) -> dict[str, Any]:
        method = "GET" if name == "state" else "POST"
        while True:
            status, payload = await self.call(name, method, f"/api/{name}", body)
            if status != 429:
                break
            await asyncio.sleep(float(payload.get("retry_after_s", 1.0)))  # as the page
        if status != 200:
            raise RuntimeError(f"{name}: {status} {str(payload)[:200]}")
        return dict(payload)

    async def fetch_audio(self, url: str) -> None:
        """Download a clip as the player does; on a slow link, at its pace."""
        started = time.perf_counter()
        for attempt in range(20):
            try:
                async with self.http.get(f"{self.base}{url}") as response:
                    self.report.record("clip", time.perf_counter() - started, response.status)
                    if response.status != 200:
                        raise RuntimeError(f"clip: {response.status}")
                    if self.link_kbps is None:
                        self.report.clip_bytes.append(len(await response.read()))
                        return
                    rate = self.link_kbps * 1000 / 8
                    got = 0
                    async for chunk in response.content.iter_chunked(8192):
                        got += len(chunk)
                        ahead = got / rate - (time.perf_counter() - started)
                        if ahead > 0:
                            await asyncio.sleep(ahead)
                    self.report.slow_downloads.append(time.perf_counter() - started)
                    self.report.clip_bytes.append(got)
                    return
            except RETRYABLE:
                self.report.errors["clip"] += 1
                self.report.resent += 1
                await asyncio.sleep(0.5 + attempt * 0.5)
                started = time.perf_counter()
        raise RuntimeError("clip: no answer after 20 tries")

    async def take(self) -> None:
        parsed = urlparse(self.link)
        status, page = await self.call("page", "GET", f"{parsed.path}?{parsed.query}")
        found = TOKEN.search(page if isinstance(page, str) else "")
        if not found:
            raise RuntimeError(f"no token in the page ({status})")
        self.token = found.group(1)
        state = await self.api("state")
        state = await self.api("consent")
        if state["stage"] == "setup":
            await self.fetch_audio(state["setup"]["volume_url"])
            await self.fetch_audio(state["setup"]["digits_url"])
            digits = await self.digits(state["setup"]["clip"])
            state = await self.api("setup", {"clip": state["setup"]["clip"], "digits": digits})
        if state["stage"] == "questions":
            body = {**self.math(state), "hearing_normal": True, "headphones": True}
            state = await self.api("questions", body)
        while state["stage"] in ("training", "rating"):
            for clip in state["clips"]:
                if not clip["rated"]:
                    await self.listen_and_rate(clip)
            state = await self.api("state")
            if state["stage"] == "rating" and all(c["rated"] for c in state["clips"]):
                state = await self.api("finish")
        if state["stage"] != "finished":
            raise RuntimeError(f"ended at {state['stage']}")
        self.report.sessions_done += 1

    async def listen_and_rate(self, clip: dict[str, Any]) -> None:
        await self.fetch_audio(clip["url"])
        await self.api("play", {"clip": clip["clip"]})
        await asyncio.sleep(self.wait)
        body = {"clip": clip["clip"], "score": await self.score(clip["clip"])}
        while True:
            if self.faults and random.random() < 0.05:
                await self.drop_half_way(body)
            sends = 2 if self.faults else 1  # a double click: the same answer twice at once
            answers = await asyncio.gather(
                *(self.call("rate", "POST", "/api/rate", body) for _ in range(sends))
            )
            statuses = {status for status, _ in answers}
            if statuses == {200}:
                self.report.answered.add(clip["clip"])
                return
            status, payload = next(a for a in answers if a[0] != 200)
            if status == 409 and payload.get("code") == "too_early":
                self.report.too_early += 1
                await asyncio.sleep(float(payload["retry_after_s"]) + 0.05)  # still playing
                continue
            raise RuntimeError(f"rate: {status} {payload}")

    async def drop_half_way(self, body: dict[str, Any]) -> None:
        """Send the headers and half the body of a `rate`, then go away (a phone losing
        its signal)."""

        raw = json.dumps(body).encode()
        host = urlparse(self.base)
        _reader, writer = await asyncio.open_connection(host.hostname, host.port)
        writer.write(
            f"POST /api/rate HTTP/1.1\r\nHost: {host.netloc}\r\n"
            f"Content-Type: application/json\r\nX-Rater-Token: {self.token}\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n".encode()
            + raw[: len(raw) // 2]
        )
        await writer.drain()
        writer.close()
        self.report.dropped += 1

    async def score(self, clip_key: str) -> int:
        """A trap's or gold clip's own answer; otherwise a score from 1 to 5. The keys of
        the rater's whole session are read at its first clip, one query per rater: the
        generator's reads are not the server's load."""
        if clip_key not in self.known:
            rows = await self.database.all(
                "SELECT i.clip_key, COALESCE(t.answer, g.answer) FROM rating_assignmentitem i "
                "LEFT JOIN design_trap t ON t.id = i.trap_id "
                "LEFT JOIN design_goldclip g ON g.id = i.gold_id WHERE i.assignment_id = "
                "(SELECT assignment_id FROM rating_assignmentitem WHERE clip_key = %s)",
                clip_key,
            )
            self.known.update(dict(rows))
        answer = self.known.get(clip_key)
        if answer is not None:
            return self.answers.answer_trap(int(answer), self.rng)
        return self.answers.rate(None, self.rng)

    async def digits(self, clip_key: str) -> str:
        row = await self.database.one(
            "SELECT d.digits FROM rating_assignment a JOIN design_digitsclip d "
            "ON d.id = a.digits_clip_id WHERE a.digits_clip_key = %s",
            clip_key,
        )
        assert row is not None
        return str(row[0])

    @staticmethod
    def math(state: dict[str, Any]) -> dict[str, int]:
        found = MATH.fullmatch(state["questions"]["math"])
        assert found is not None
        a, op, b = int(found.group(1)), found.group(2), int(found.group(3))
        return {"math": a + b if op == "plus" else a - b}


def run_step(
    options: argparse.Namespace, server: Server, links: list[str], *, faults: bool = False
) -> Report:
    report = Report(raters=len(links), faults=faults)
    meter = CpuMeter(server)
    asyncio.run(crowd(options, server, links, report, meter))
    count_stored(options, report)
    return report


async def crowd(
    options: argparse.Namespace,
    server: Server,
    links: list[str],
    report: Report,
    meter: CpuMeter,
) -> None:
    database_url = f"{options.server}/{options.database}"
    chooser = random.Random(len(links))
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as http,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as database,
    ):
        lookup = Lookup(database)

        async def one(index: int, link: str) -> None:
            await asyncio.sleep(index / options.arrival_rate)
            slow = chooser.random() < options.slow_share
            rater = Rater(
                http,
                server.base,
                link.replace(PUBLIC, server.base),
                report,
                lookup,
                wait=options.clip_seconds,
                link_kbps=options.slow_kbps if slow else None,
                faults=report.faults,
                seed=index,
            )
            report.arrived()
            try:
                await rater.take()
            except Exception as exc:  # a failed rater is reported, the others go on
                report.failures.append(f"{type(exc).__name__}: {exc}")
            finally:
                report.left()

        async def killer(after: float) -> None:
            await asyncio.sleep(after)
            victims = server.workers()[:1]
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            report.killed.extend(victims)

        async def sampler() -> None:
            while True:
                await asyncio.sleep(1.0)
                meter.sample()
                if report.in_session == report.raters:
                    window = report.peak_window
                    window[1:] = []  # keep the first snapshot and the latest
                    window.append(meter.snapshot())

        arrival_s = len(links) / options.arrival_rate
        print(f"  {len(links)} raters arrive over {arrival_s:g} s ...", flush=True)
        meter.start()
        started = time.perf_counter()
        report.arrivals_end = started + arrival_s
        background = [asyncio.create_task(sampler())]
        if report.faults:
            background.append(asyncio.create_task(killer(arrival_s + 15)))
        await asyncio.gather(*(one(i, link) for i, link in enumerate(links)))
        report.seconds = time.perf_counter() - started
        for task in background:
            task.cancel()
        report.cpu = meter.used()
        if len(report.peak_window) == 2:
            (t0, first), (t1, last) = report.peak_window
            report.peak_cpu = {part: (last[part] - first[part]) / (t1 - t0) for part in last}


class Lookup:
    """The simulated raters' ears: one database connection for the whole crowd, one
    query at a time."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection, self.lock = connection, asyncio.Lock()

    async def one(self, sql: str, *params: Any) -> Any:
        async with self.lock, self.connection.cursor() as cursor:
            await cursor.execute(sql, params)
            return await cursor.fetchone()

    async def all(self, sql: str, *params: Any) -> list[Any]:
        async with self.lock, self.connection.cursor() as cursor:
            await cursor.execute(sql, params)
            return await cursor.fetchall()


def count_stored(options: argparse.Namespace, report: Report) -> None:
    """Of the answers the crowd got a 200 for: how many are in the database, and is any
    clip stored with more than one vote."""
    keys = sorted(report.answered)
    with psycopg.connect(f"{options.server}/{options.database}") as connection:
        row = connection.execute(
            "SELECT count(DISTINCT i.id), count(v.id) FROM rating_vote v "
            "JOIN rating_assignmentitem i ON i.id = v.item_id WHERE i.clip_key = ANY(%s)",
            (keys,),
        ).fetchone()
    distinct, votes = (int(row[0]), int(row[1])) if row else (0, 0)
    report.stored, report.stored_twice = distinct, votes - distinct


def ramp(
    options: argparse.Namespace,
    env: dict[str, str],
    root: Path,
    path: ServingPath,
    steps: list[int],
    links: list[str],
) -> int:
    """The path's steps in order until one misses the goal; the largest crowd served."""
    served = 0
    with serving(options, env, root, path) as server:
        for raters in steps:
            vacuum(options)
            batch = [links.pop() for _ in range(raters)]
            report = run_step(options, server, batch)
            print_step(options, path, report)
            if not report.passed():
                print(f"  {path.name} path: the goal is missed at {raters} raters; ramp stopped")
                break
            served = raters
    return served


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def print_step(
    options: argparse.Namespace, path: ServingPath, report: Report, title: str = ""
) -> None:
    seconds = report.seconds or 1.0
    requests_made = sum(len(v) for v in report.latencies.values())
    label = f"{path.name} path ({path.workers} {path.worker_class} workers"
    if path.worker_class == "gthread" and options.threads:
        label += f" of {options.threads} threads"
    label += ", nginx)" if path.proxy else ")"
    print(f"\n== {label}, {report.raters} raters{' ' + title if title else ''}")
    print(f"  sessions completed: {report.sessions_done} of {report.raters} in {seconds:.1f} s")
    print(
        f"  raters in session at once: at most {report.peak_in_session}; all {report.raters} "
        f"for {report.all_in_s:.0f} s (arriving at {options.arrival_rate:g} a second)"
    )
    print(
        f"  answers: {len(report.answered)} sent, {report.stored} stored "
        f"({'none lost' if report.lost == 0 else f'{report.lost} LOST'}; "
        f"{report.stored_twice} stored twice); {report.too_early} early ratings resent"
    )
    print(
        f"  throughput: {len(report.answered) / seconds:.1f} answers/s, "
        f"{requests_made / seconds:.1f} requests/s; {report.resent} requests resent "
        "after no answer or a 5xx"
    )
    if report.clip_bytes:
        size_kb = percentile([float(n) for n in report.clip_bytes], 50) / 1000
        print(
            f"  audio: {len(report.clip_bytes)} clips, median {size_kb:.0f} KB, "
            f"{sum(report.clip_bytes) / seconds / 1e6:.1f} MB/s"
        )
    if report.slow_downloads:
        print(
            f"  slow links ({options.slow_kbps:g} kbit/s): {len(report.slow_downloads)} clips, "
            f"median download {percentile(report.slow_downloads, 50):.2f} s"
        )
    if report.faults:
        print(
            f"  faults: worker(s) {report.killed} killed with SIGKILL, {report.dropped} requests "
            "dropped half-way, every rate sent twice at once"
        )
    cpu = ", ".join(f"{part} {100 * used / seconds:.0f}%" for part, used in report.cpu.items())
    print(f"  CPU (% of one core): {cpu}")
    if report.peak_cpu:
        peak = ", ".join(f"{part} {100 * share:.0f}%" for part, share in report.peak_cpu.items())
        print(f"  CPU while all {report.raters} were in session: {peak}")
    columns = ("n", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms")
    print(f"  {'endpoint':<10}" + "".join(f"{c:>9}" for c in columns))
    for endpoint in ENDPOINTS:
        values = report.latencies.get(endpoint)
        if not values:
            continue
        print(
            f"  {endpoint:<10}{len(values):>9}{report.errors.get(endpoint, 0):>9}"
            f"{1000 * percentile(values, 50):>9.1f}{1000 * percentile(values, 95):>9.1f}"
            f"{1000 * percentile(values, 99):>9.1f}{1000 * max(values):>9.1f}"
        )
    arriving = [s for t, s in report.rated_at if t <= report.arrivals_end]
    after = [s for t, s in report.rated_at if t > report.arrivals_end]
    if arriving and after:
        print(
            f"  rate p99 while raters arrive {1000 * percentile(arriving, 99):.1f} ms "
            f"({len(arriving)}), after {1000 * percentile(after, 99):.1f} ms ({len(after)})"
        )
    if report.failures:
        print(f"  {len(report.failures)} raters failed, e.g. {report.failures[:3]}")
    if report.faults:
        verdict = "every session completed" if report.nothing_lost() else "MISSED"
        print(f"  nothing lost, nothing counted twice: {verdict}")
    else:
        print(f"  goal (rate p99 < 250 ms, nothing lost): {'met' if report.passed() else 'MISSED'}")


if __name__ == "__main__":
    main()
