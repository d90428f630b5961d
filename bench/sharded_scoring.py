"""Sharded archive scoring at scale: what the orchestration costs, with the model out
of the way.

The model and its decoder are replaced, here only, by a stub at the boundary where a
worker loads them (`run_scorer`): it returns MOS 3.0 for every file, after spending
`--work-ms` of CPU per file when asked (a stand-in for a model's compute). The files are
only listed in a manifest, never opened. Everything else is the product's: the plan
task listing the manifest into `ScoringShard` rows and building the Celery group, the
shard tasks storing every file's row and summing progress, the assembly writing the
CSV, on PostgreSQL and Redis.

For each archive size (`--files`, default 10,000, 50,000 and 100,000), each step runs in
a fresh process so its peak RSS is its own:
- plan: seconds (listing the manifest, writing the shard rows, sending the group to
  Redis), and the planner's peak RSS above its RSS before planning;
- shards: every shard in one process, one after another: seconds per shard (with the
  stub and no work, all of it is overhead) and per file;
- assembly: seconds, and peak RSS above the starting RSS.
The coordinator's memory must stay flat as the archive grows.

Then end to end through real Celery workers (`--throughput-files`, `--work-ms`): one
worker process, then two, each `--pool solo` on the gpu queue, from sending the plan to
the CSV; files per second and the ratio (goal: 2 workers at least 1.8x one).

    python -m bench sharded_scoring -- --files 10000,50000,100000 --throughput-files 20000 \\
        --work-ms 2 --database-url postgres://postgres@127.0.0.1:5432/crowdtest_scoring_bench \\
        --broker-url redis://127.0.0.1:6379/14
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/crowdtest_scoring_bench"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
PLAN = "crowdtest.training.tasks.score_archive"


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    """Peak RSS of this process image (VmHWM: unlike getrusage's ru_maxrss, it does
    not keep the peak of the parent that forked it)."""
    return _status_mb("VmHWM")


def _env(options: argparse.Namespace, media: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="crowdtest.settings",
        CROWDTEST_INSECURE_DEFAULTS="1",
        DEBUG="0",  # no query log growing in memory
        DATABASE_URL=options.database_url,
        CELERY_BROKER_URL=options.broker_url,
        CELERY_RESULT_BACKEND="",
        MEDIA_ROOT=str(media),
        IMPORT_ROOTS=str(media.parent),
        TASKS_IN_PROCESS="",
    )
    return env


def _setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


class StubScorer:
    """The model and decoder at the benchmark's boundary: a constant MOS per file after
    `work_s` of CPU."""

    def __init__(self, work_s: float) -> None:
        self.work_s = work_s

    def score(self, paths: Any, progress: Any = None) -> list[Any]:
        from crowdtest.training.services.scorer import FileScore

        out = []
        for _ in paths:
            if self.work_s:
                until = time.process_time() + self.work_s
                while time.process_time() < until:
                    pass
            out.append(FileScore(3.0, "", "stub"))
        return out


def _stub_model(work_ms: float) -> None:
    from crowdtest.training.services import sharding

    setattr(sharding, "run_scorer", lambda **kwargs: StubScorer(work_ms / 1000))  # noqa: B010


# --- Child processes ---------------------------------------------------------------------


def child(options: argparse.Namespace) -> None:
    """One step in a fresh process; prints one JSON line."""
    from crowdtest.training.services import sharding

    _stub_model(0.0)
    # The plan sends its shards to Redis (no worker takes them; the queue is emptied
    # before the end-to-end runs); the last shard's assembly is run here by hand.
    setattr(sharding, "enqueue", lambda task, **kwargs: None)  # noqa: B010
    base = _rss_mb()
    scoring_id = options.scoring
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if options.child == "plan":
        result["answer"] = sharding.scoring_plan(scoring_id=scoring_id)
    elif options.child == "shards":
        from crowdtest.training.models import ScoringShard

        indices = list(
            ScoringShard.objects.filter(scoring_id=scoring_id)
            .order_by("index")
            .values_list("index", flat=True)
        )
        times = []
        for index in indices:
            t = time.perf_counter()
            sharding.shard_score(scoring_id=scoring_id, index=index)
            times.append(time.perf_counter() - t)
        times.sort()
        result.update(
            shards=len(times), median=times[len(times) // 2], mean=sum(times) / len(times)
        )
    else:
        result["answer"] = sharding.scoring_assemble(scoring_id=scoring_id)
    result.update(seconds=time.perf_counter() - started, base_mb=base, peak_mb=_peak_mb())
    print(json.dumps(result), flush=True)


def worker(options: argparse.Namespace) -> None:
    """A Celery worker process (pool solo, gpu queue) scoring with the stub."""
    _stub_model(options.work_ms)
    from crowdtest.celery import app

    name = f"bench-{os.getpid()}@%h"
    app.worker_main(["worker", "-Q", "gpu", "--pool", "solo", "--loglevel", "WARNING", "-n", name])


def _run_child(options: argparse.Namespace, env: dict[str, str], step: str, scoring: int) -> Any:
    command = [sys.executable, "-m", "bench.sharded_scoring", "--child", step]
    command += ["--scoring", str(scoring), *_shared_args(options)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{step} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _shared_args(options: argparse.Namespace) -> list[str]:
    return ["--database-url", options.database_url, "--broker-url", options.broker_url,
            "--work-ms", str(options.work_ms)]  # fmt: skip


# --- The coordinating process ------------------------------------------------------------


def _manifest(folder: Path, n: int) -> Path:
    path = folder / f"manifest-{n}.csv"
    if not path.exists():
        with path.open("w") as f:
            f.write("path\n")
            for i in range(n):
                f.write(f"{folder}/archive/disc{i // 1000:04d}/track{i:07d}.flac\n")
    return path


def _scoring(manifest: Path, shard_size: int) -> Any:
    """A scoring as the page starts it, its plan not sent."""
    from crowdtest.training.models import ModelRun
    from crowdtest.training.services import scoring as scoring_module

    run = ModelRun.objects.create(kind="imported", status="succeeded", config={"fine_tuned": True})
    run.folds.create(index=0, status="succeeded", model_dir="/stub")
    real = getattr(scoring_module, "enqueue")  # noqa: B009
    setattr(scoring_module, "enqueue", lambda task, **kwargs: None)  # noqa: B010
    try:
        return scoring_module.scoring_start(
            run=run, source=str(manifest), device="cpu", engine="torch-fp32", shard_size=shard_size
        )
    finally:
        setattr(scoring_module, "enqueue", real)  # noqa: B010


def _wait(scoring: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scoring.refresh_from_db()
        if scoring.status in ("succeeded", "failed", "cancelled"):
            return
        time.sleep(0.2)
    raise SystemExit(f"scoring {scoring.pk} still {scoring.status} after {timeout} s")


def _cpu_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of the whole machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _through_workers(
    options: argparse.Namespace, env: dict[str, str], folder: Path, n_workers: int
) -> tuple[float, float, float]:
    """Seconds from sending the plan to the finished CSV, the workers' CPU seconds
    meanwhile, and the machine's busy fraction meanwhile (all processes, ours and
    others')."""
    import redis
    from celery import Celery

    redis.Redis.from_url(options.broker_url).flushdb()
    logs = [(folder / f"worker-{n_workers}-{i}.log").open("w") for i in range(n_workers)]
    command = [sys.executable, "-m", "bench.sharded_scoring", "--worker", *_shared_args(options)]
    procs = [subprocess.Popen(command, env=env, stdout=log, stderr=log) for log in logs]
    client = Celery("bench", broker=options.broker_url)
    try:
        while len(client.control.ping(timeout=1.0) or []) < n_workers:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker died: see " + str(folder))
        scoring = _scoring(_manifest(folder, options.throughput_files), options.shard_size)
        cpu_before = sum(_process_cpu_s(p.pid) for p in procs)
        busy_before, all_before = _cpu_ticks()
        started = time.perf_counter()
        client.send_task(PLAN, kwargs={"scoring_id": scoring.pk}, queue="gpu")
        _wait(scoring, timeout=3600)
        seconds = time.perf_counter() - started
        cpu = sum(_process_cpu_s(p.pid) for p in procs) - cpu_before
        busy_after, all_after = _cpu_ticks()
        if scoring.status != "succeeded" or scoring.n_scored != options.throughput_files:
            raise SystemExit(f"scoring {scoring.pk}: {scoring.status} {scoring.error}")
        return seconds, cpu, (busy_after - busy_before) / max(1, all_after - all_before)
    finally:
        client.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        for log in logs:
            log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sharded_scoring", description=__doc__)
    parser.add_argument("--files", default="10000,50000,100000", help="archive sizes")
    parser.add_argument("--shard-size", type=int, default=256, help="files per shard (256)")
    parser.add_argument("--throughput-files", type=int, default=20_000, help="(20,000; 0: skip)")
    parser.add_argument("--work-ms", type=float, default=2.0, help="stub CPU ms per file (2)")
    parser.add_argument("--database-url", default=DEFAULT_DB, help=f"({DEFAULT_DB})")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER, help=f"({DEFAULT_BROKER})")
    parser.add_argument("--child", choices=("plan", "shards", "assemble"), help=argparse.SUPPRESS)
    parser.add_argument("--scoring", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    options, _ = parser.parse_known_args(argv)

    if options.child or options.worker:
        media = Path(os.environ.get("MEDIA_ROOT", tempfile.gettempdir()))
        _setup(_env(options, media))
        (child if options.child else worker)(options)
        return

    from bench.mos import ensure_database

    print(
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores; "
        f"{platform.processor() or platform.machine()}; Python {platform.python_version()}; "
        f"shard {options.shard_size} files; stub work {options.work_ms} ms CPU per file",
        flush=True,
    )
    ensure_database(options.database_url, drop=False)
    folder = Path(tempfile.mkdtemp(prefix="crowdtest-sharded-bench-"))
    media = folder / "media"
    media.mkdir()
    env = _env(options, media)
    _setup(env)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    print("files     shards  plan s  plan peak MB (+ over start)  s/shard  ms/file  "
          "assembly s  assembly peak MB (+)", flush=True)  # fmt: skip
    for n in (int(x) for x in options.files.split(",")):
        scoring = _scoring(_manifest(folder, n), options.shard_size)
        plan = _run_child(options, env, "plan", scoring.pk)
        shards = _run_child(options, env, "shards", scoring.pk)
        assembly = _run_child(options, env, "assemble", scoring.pk)
        scoring.refresh_from_db()
        assert scoring.status == "succeeded" and scoring.n_scored == n, scoring.status
        print(
            f"{n:>7,}  {shards['shards']:>6}  {plan['seconds']:>6.2f}  "
            f"{plan['peak_mb']:>7.1f} (+{plan['peak_mb'] - plan['base_mb']:.1f})"
            f"{'':>14}{shards['mean']:>7.3f}  {1000 * shards['seconds'] / n:>7.3f}  "
            f"{assembly['seconds']:>10.2f}  {assembly['peak_mb']:>7.1f} "
            f"(+{assembly['peak_mb'] - assembly['base_mb']:.1f})",
            flush=True,
        )
    if options.throughput_files:
        n = options.throughput_files
        runs = {k: _through_workers(options, env, folder, k) for k in (1, 2)}
        for k, (seconds, cpu, busy) in runs.items():
            print(
                f"end to end, {n:,} files, {options.work_ms} ms stub work per file, {k} "
                f"worker{'s' if k > 1 else ''}: {seconds:.1f} s, {n / seconds:,.0f} files/s; "
                f"workers' CPU {cpu:.1f} s ({1000 * cpu / n:.2f} ms per file), "
                f"{cpu / seconds:.2f} cores; machine busy {100 * busy:.0f} %",
                flush=True,
            )
        print(
            f"2 workers / 1: {runs[1][0] / runs[2][0]:.2f}x; load average now "
            f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
    shutil.rmtree(folder)  # manifests, CSVs and worker logs (kept when a step fails)


if __name__ == "__main__":
    main(sys.argv[1:])
