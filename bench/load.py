"""Load: many raters at once taking whole sessions through the rater API, against gunicorn
and PostgreSQL on this machine.

A scratch database gets a small real experiment (synthetic tracks imported, prepared,
clustered; real prompts, traps, digits and sessions), with 1 s stimuli so that raters
really wait for each clip to end: the server's duration check is never bypassed. Then
every simulated rater opens a participant link, reads the token from the page, and
does what the page does: state, consent, setup digits, questions, then for each clip
fetch the audio, `play`, wait, `rate` (waiting again when the server answers 409
too_early), and `finish`. The digits are read from the database (a stand-in for ears);
the math question is solved from its text.

Printed: answers (votes) per second, requests per second, p50/p95/p99 latency per
endpoint, and the check that no answer was lost: votes in the database = answers sent.

    python -m bench load -- --raters 100 --workers 3
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r'data-token="([^"]+)"')
MATH = re.compile(r"What is (\d+) (plus|minus) (\d+)\?")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__)
    parser.add_argument("--raters", type=int, default=100, help="raters at once (100)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (3)")
    parser.add_argument("--tracks", type=int, default=40, help="synthetic tracks (40)")
    parser.add_argument("--clip-seconds", type=float, default=1.0, help="stimulus length (1 s)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument("--database", default="crowdtest_bench_load", help="scratch database")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        root = Path(folder)
        env = environment(options, root)
        reset_database(options.server, options.database)
        try:
            links = build_experiment(options, env, root)
            with gunicorn(options, env, root) as base:
                report = run_raters(options, base, [link.replace(PUBLIC, base) for link in links])
            check_and_print(options, report)
        finally:
            if not options.keep:
                drop_database(options.server, options.database)


PUBLIC = "http://bench.invalid"


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
        IMPORT_ROOTS=str(root),
        TASKS_IN_PROCESS="sync",
        PUBLIC_BASE_URL=PUBLIC,
        LOG_LEVEL="WARNING",
    )
    return env


def reset_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build_experiment(options: argparse.Namespace, env: dict[str, str], root: Path) -> list[str]:
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
        sample_rate=16000,
        seed=11,
    )
    settings = {
        "excerpt_seconds": options.clip_seconds,
        "n_clusters": 4,
        "stimuli_per_cluster": 2,
        "training_size": 4,
        "trap_sources": 4,
        "delivery_bitrate_kbps": 64,
    }
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    manage(env, "create_experiment", "bench", "--name", "Load benchmark", *sets)
    manage(env, "import_tracks", "bench", str(root / "tracks" / "manifest.csv"))
    manage(env, "prepare_stimuli", "bench")
    manage(env, "cluster_stimuli", "bench")
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        largest = connection.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM corpus_stimulus "
            "WHERE selected GROUP BY cluster) AS sizes"
        ).fetchone()
    size = int(largest[0]) if largest and largest[0] else 1
    votes = -(-options.raters * settings["stimuli_per_cluster"] // size)  # sessions >= raters
    manage(
        env, "build_sessions", "bench", "--votes-per-stimulus", str(votes), "--digits-clips", "5"
    )
    output = manage(
        env, "publish", "bench", "--platform", "link", "--participants", str(options.raters)
    )
    links = re.findall(rf"{re.escape(PUBLIC)}\S+", output)
    print(
        f"experiment: {options.tracks} tracks, {size} stimuli per cluster kept, {votes} votes per "
        f"stimulus, {len(links)} participant links; built in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return links


class gunicorn:  # a context manager, named like the process it runs
    def __init__(self, options: argparse.Namespace, env: dict[str, str], root: Path) -> None:
        self.base = f"http://127.0.0.1:{options.port}"
        self.workers = options.workers
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "crowdtest.wsgi",
            "--workers",
            str(options.workers),
            "--bind",
            f"127.0.0.1:{options.port}",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ]
        self.env = env
        self.log = (root / "gunicorn.log").open("w")
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            raise SystemExit(f"gunicorn did not start; see {self.log.name}")
        # Django imports the URLconf (and every app's views) on a worker's first request:
        # warm every worker up before measuring.
        with ThreadPoolExecutor(max_workers=self.workers * 4) as pool:
            list(
                pool.map(
                    lambda _: requests.get(f"{self.base}/api/openapi.json", timeout=120),
                    range(self.workers * 8),
                )
            )
        return self.base

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@dataclass
class Report:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    answers_sent: int = 0
    too_early: int = 0
    sessions_done: int = 0
    failures: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies[endpoint].append(seconds)
            if status >= 400 and not (endpoint == "rate" and status == 409):
                self.errors[endpoint] += 1


class Rater:
    """One simulated rater doing what the page does."""

    def __init__(self, base: str, link: str, database_url: str, report: Report, wait: float):
        self.base, self.link, self.report, self.wait = base, link, report, wait
        self.database_url = database_url
        self.http = requests.Session()
        self.token = ""

    def call(self, endpoint: str, method: str, path: str, body: Any = None) -> Any:
        started = time.perf_counter()
        response = self.http.request(
            method,
            f"{self.base}{path}",
            json=body,
            headers={"X-Rater-Token": self.token} if self.token else {},
            timeout=60,
        )
        self.report.record(endpoint, time.perf_counter() - started, response.status_code)
        return response

    def api(self, name: str, body: Any = None) -> dict[str, Any]:
        method = "GET" if name == "state" else "POST"
        response = self.call(name, method, f"/api/{name}", body if method == "POST" else None)
        while response.status_code == 429:  # many starting at once: wait as asked, like the page
            time.sleep(float(response.json().get("retry_after_s", 1.0)))
            response = self.call(name, method, f"/api/{name}", body)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
        return dict(response.json())

    def take(self) -> None:
        page = self.call("page", "GET", urlparse(self.link)._replace(scheme="", netloc="").geturl())
        found = TOKEN.search(page.text)
        if not found:
            raise RuntimeError(f"no token in the page ({page.status_code})")
        self.token = found.group(1)
        state = self.api("state")
        state = self.api("consent")
        if state["stage"] == "setup":
            self.call("clip", "GET", state["setup"]["volume_url"])
            self.call("clip", "GET", state["setup"]["digits_url"])
            state = self.api(
                "setup", {"clip": state["setup"]["clip"], "digits": self.digits(state)}
            )
        if state["stage"] == "questions":
            state = self.api(
                "questions", {**self.math(state), "hearing_normal": True, "headphones": True}
            )
        while state["stage"] in ("training", "rating"):
            for clip in state["clips"]:
                if not clip["rated"]:
                    self.listen_and_rate(clip)
            state = self.api("state")
            if state["stage"] == "rating" and all(c["rated"] for c in state["clips"]):
                state = self.api("finish")
        if state["stage"] != "finished":
            raise RuntimeError(f"ended at {state['stage']}")
        with self.report.lock:
            self.report.sessions_done += 1

    def listen_and_rate(self, clip: dict[str, Any]) -> None:
        self.call("clip", "GET", clip["url"])
        self.api("play", {"clip": clip["clip"]})
        time.sleep(self.wait)
        score = 1 + secrets.randbelow(5)
        with self.report.lock:
            self.report.answers_sent += 1
        while True:
            response = self.call(
                "rate", "POST", "/api/rate", {"clip": clip["clip"], "score": score}
            )
            if response.status_code == 200:
                return
            body = response.json()
            if response.status_code == 409 and body.get("code") == "too_early":
                with self.report.lock:
                    self.report.too_early += 1
                time.sleep(float(body["retry_after_s"]) + 0.05)  # the clip is still playing
                continue
            raise RuntimeError(f"rate: {response.status_code} {body}")

    def digits(self, state: dict[str, Any]) -> str:
        with psycopg.connect(self.database_url) as connection:
            row = connection.execute(
                "SELECT d.digits FROM rating_assignment a JOIN design_digitsclip d "
                "ON d.id = a.digits_clip_id WHERE a.digits_clip_key = %s",
                (state["setup"]["clip"],),
            ).fetchone()
        assert row is not None
        return str(row[0])

    @staticmethod
    def math(state: dict[str, Any]) -> dict[str, int]:
        found = MATH.fullmatch(state["questions"]["math"])
        assert found is not None
        a, op, b = int(found.group(1)), found.group(2), int(found.group(3))
        return {"math": a + b if op == "plus" else a - b}


def run_raters(options: argparse.Namespace, base: str, links: list[str]) -> Report:
    report = Report()
    database_url = f"{options.server}/{options.database}"

    def one(link: str) -> None:
        try:
            Rater(base, link, database_url, report, options.clip_seconds).take()
        except Exception as exc:  # a failed rater is reported, the others go on
            with report.lock:
                report.failures.append(f"{type(exc).__name__}: {exc}")

    print(f"{len(links)} raters start at once ...", flush=True)
    report.started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(links)) as pool:
        list(pool.map(one, links))
    report.ended = time.perf_counter()
    return report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def check_and_print(options: argparse.Namespace, report: Report) -> None:
    with psycopg.connect(f"{options.server}/{options.database}") as connection:
        row = connection.execute("SELECT count(*) FROM rating_vote").fetchone()
    votes = int(row[0]) if row else 0
    seconds = report.ended - report.started
    requests_made = sum(len(v) for v in report.latencies.values())
    print(
        f"\n{report.sessions_done} of {options.raters} sessions completed in {seconds:.1f} s "
        f"({options.workers} gunicorn workers, {options.clip_seconds:g} s stimuli)"
    )
    print(
        f"answers: {report.answers_sent} sent, {votes} in the database "
        f"({'none lost' if votes == report.answers_sent else 'MISMATCH'}); "
        f"{report.too_early} early ratings refused and resent"
    )
    print(
        f"throughput: {report.answers_sent / seconds:.1f} answers/s, "
        f"{requests_made / seconds:.1f} requests/s"
    )
    columns = ("n", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms")
    print(f"\n{'endpoint':<10}" + "".join(f"{c:>9}" for c in columns))
    for endpoint in (
        "page",
        "state",
        "consent",
        "setup",
        "questions",
        "clip",
        "play",
        "rate",
        "finish",
    ):
        values = report.latencies.get(endpoint)
        if not values:
            continue
        print(
            f"{endpoint:<10}{len(values):>9}{report.errors.get(endpoint, 0):>9}"
            f"{1000 * percentile(values, 50):>9.1f}{1000 * percentile(values, 95):>9.1f}"
            f"{1000 * percentile(values, 99):>9.1f}{1000 * max(values):>9.1f}"
        )
    if report.failures:
        print(f"\n{len(report.failures)} raters failed, e.g. {report.failures[:3]}")
    if votes != report.answers_sent or report.failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
