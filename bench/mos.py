"""MOS aggregation on PostgreSQL with 1,000,000 votes (goal: under 5 s).

Builds, once, a scratch database (default `crowdtest_bench` on 127.0.0.1:5432, user
postgres; created when missing) holding one experiment of 1,000 rated stimuli in 5
clusters, 10,000 raters, 50,000 completed 20-stimulus sessions and their 1,000,000 rating
votes, plus 2 gold clips (known to be Bad) answered in each session, written with COPY;
every 9th session answers the math question wrongly and its votes are stored invalid, as
screening finds them; 5% of the raters, drawn at random, rate the music and the gold
clips at random (the rater verdict's work). Later runs reuse the data; a different
--votes or --rebuild builds it again. Then times, on the same data:

- `stimulus_vote_stats`: the one aggregation query (count, sum, sum of squares of the
  valid votes per stimulus) plus the CIs over its 1,000 rows: what `compute_mos` reads;
- `mos_compute`: that, the 15 MOS classes and writing the 1,000 MOS rows;
- the dashboard's reads (`overview`, `distributions`, `progress_series`, `rater_report`);
- with --screen: `experiment_screen` (screening every session, judging every rater and
  setting Vote.valid) and `results_refresh` (that and the MOS table: what `compute_mos`
  runs; goal under 5 s), each with no screening stored and again with nothing changed
  (screening writes only what changed), and a check that a sample of the verdicts
  equals screening the sessions one at a time.

    python -m bench mos -- --votes 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from modeling.crowd import GOLD_HEARD, acr, cheat_scores

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/crowdtest_bench"
SLUG = "bench-mos"
PER_SESSION = 20
SESSIONS_PER_RATER = 5
GOLD_PER_SESSION = 2  # as the default design: clips known to be Bad (score 1)
GOLD_CLIPS = 12
CHEATER_SHARE = 0.05  # raters who pass every check but rate at random


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench mos", description=__doc__)
    parser.add_argument("--votes", type=int, default=1_000_000, help="votes (1,000,000)")
    parser.add_argument("--stimuli", type=int, default=1_000, help="rated stimuli (1,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each read (5)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"({DEFAULT_URL})")
    parser.add_argument("--rebuild", action="store_true", help="build the data again")
    parser.add_argument("--screen", action="store_true", help="also time screening")
    # Options meant for other benchmarks of the same `python -m bench` run are ignored.
    options, _ = parser.parse_known_args(argv)
    if options.votes % PER_SESSION:
        parser.error(f"--votes must be a multiple of {PER_SESSION}")

    print_machine(options.database_url)
    ensure_database(options.database_url, drop=options.rebuild)
    setup_django(options.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    experiment = bench_experiment(options.votes, options.stimuli)
    if experiment is None:
        from django.db import connections

        connections.close_all()
        ensure_database(options.database_url, drop=True)
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        experiment = build(options.votes, options.stimuli)
        print(f"built {options.votes:,} votes with COPY in {time.perf_counter() - started:.1f} s")
    else:
        print(f"reusing {options.votes:,} votes in {database_name(options.database_url)}")
    run_timings(experiment, options.repeat, screen=options.screen)


# --- Setup --------------------------------------------------------------------------


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


def ensure_database(url: str, *, drop: bool) -> None:
    """Create the scratch database when missing (and drop it first when asked), through
    the server's `postgres` maintenance database."""
    import psycopg
    from psycopg import sql

    name = database_name(url)
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and drop:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CROWDTEST_INSECURE_DEFAULTS", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdtest.settings")
    import django
    from django.conf import settings

    django.setup()
    configured = settings.DATABASES["default"]["NAME"]
    if configured != database_name(url):
        raise SystemExit(f"Django is already set up on database {configured}; run bench mos alone.")


def bench_experiment(votes: int, stimuli: int) -> Any:
    """The benchmark's experiment when it holds exactly what was asked, else None."""
    from crowdtest.corpus.models import Experiment
    from crowdtest.rating.models import Vote

    experiment = Experiment.objects.filter(slug=SLUG).first()
    if experiment is None:
        return None
    if (
        experiment.stimuli.count() != stimuli
        or Vote.objects.filter(experiment=experiment, stimulus__isnull=False).count() != votes
        or not experiment.gold_clips.exists()  # data from before gold clips
    ):
        return None
    return experiment


# --- Building the rows with COPY ------------------------------------------------------


def copy_rows(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """COPY `rows` (field name -> value, explicit ids) into `model`'s table. Every other
    column gets its field's default, so the rows stay valid when fields are added."""
    from django.db import connection
    from django.db.models import JSONField
    from psycopg import sql
    from psycopg.types.json import Jsonb

    # A generated column (the stimulus's `selected`) is the database's to fill.
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    constant: dict[str, Any] = {}
    now = datetime.now().astimezone()
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            constant[f.attname] = now
        elif f.has_default() and not callable(f.default):
            constant[f.attname] = f.default
        elif not f.has_default() and f.null:
            constant[f.attname] = None
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            values = []
            for f in fields:
                if f.attname in row:
                    value = row[f.attname]
                elif f.attname in constant:
                    value = constant[f.attname]
                else:
                    value = f.get_default()
                values.append(
                    Jsonb(value) if isinstance(f, JSONField) and value is not None else value
                )
            copy.write_row(values)
            count += 1
    reset = sql.SQL(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT COALESCE(MAX(id), 1) FROM {}))"
    ).format(sql.Identifier(model._meta.db_table))
    with connection.cursor() as cursor:
        cursor.cursor.execute(reset, [model._meta.db_table])
    return count


def build(votes: int, n_stimuli: int) -> Any:
    from django.db import connection

    from crowdtest.corpus.models import Experiment, Stimulus, Track
    from crowdtest.design.models import GoldClip, Session
    from crowdtest.rating.models import Assignment, AssignmentItem, Rater, Vote

    experiment = Experiment.objects.create(slug=SLUG, name="MOS benchmark")
    sessions = votes // PER_SESSION
    raters = -(-sessions // SESSIONS_PER_RATER)
    rng = np.random.default_rng(0)
    quality = rng.uniform(2.5, 4.7, size=n_stimuli)  # each stimulus's true MOS
    start = datetime.now().astimezone() - timedelta(days=30)
    e = experiment.pk

    copy_rows(
        Track,
        (
            {
                "id": i + 1,
                "experiment_id": e,
                "source_kind": "path",
                "source": f"/bench/{i}.wav",
                "original_name": f"{i:05d}.wav",
                "checksum": f"{i:064x}",
            }
            for i in range(n_stimuli)
        ),
    )
    copy_rows(
        Stimulus,
        (
            {
                "id": i + 1,
                "experiment_id": e,
                "track_id": i + 1,
                "status": "ready",
                "cluster": i % 5,
                "role": "rated",
                "media_key": f"{i:032x}",
            }
            for i in range(n_stimuli)
        ),
    )
    copy_rows(
        Rater,
        (
            {"id": r + 1, "experiment_id": e, "platform": "mturk", "external_id": f"W{r:07d}"}
            for r in range(raters)
        ),
    )
    copy_rows(
        Session,
        (
            {"id": s + 1, "experiment_id": e, "kind": "rating", "index": s, "status": "done"}
            for s in range(sessions)
        ),
    )

    def finished(s: int) -> datetime:
        return start + timedelta(seconds=50 * s)

    copy_rows(
        Assignment,
        (
            {
                "id": s + 1,
                "experiment_id": e,
                "rater_id": s // SESSIONS_PER_RATER + 1,
                "session_id": s + 1,
                "stage": "finished",
                "status": "completed",
                "math_answer": 5,
                # Every 9th session answers the math question wrongly: screening finds
                # the same valid votes the rows are written with.
                "math_given": 4 if s % 9 == 0 else 5,
                "hearing_normal": True,
                "headphones": True,
                "digits_correct": True,
                "started_at": finished(s) - timedelta(minutes=15),
                "finished_at": finished(s),
                "ordinal": s % SESSIONS_PER_RATER + 1,
                "completion_code": "BENCH",
            }
            for s in range(sessions)
        ),
    )

    def stimulus_of(v: int) -> int:
        # Session s rates stimuli 20s .. 20s+19 (mod the stimuli): 1,000 votes each.
        return v % n_stimuli + 1

    copy_rows(
        AssignmentItem,
        (
            {
                "id": v + 1,
                "assignment_id": v // PER_SESSION + 1,
                "phase": "rating",
                "position": v % PER_SESSION,
                "stimulus_id": stimulus_of(v),
                "clip_key": f"k{v}",
                "duration_s": 10.0,
                "plays": 1,
            }
            for v in range(votes)
        ),
    )
    copy_rows(
        GoldClip,
        (
            {
                "id": g + 1,
                "experiment_id": e,
                "source_id": g + 1,
                "answer": 1,
                "delivery": f"bench/gold{g}.m4a",
                "duration_s": 10.0,
            }
            for g in range(GOLD_CLIPS)
        ),
    )
    gold_items = sessions * GOLD_PER_SESSION
    copy_rows(
        AssignmentItem,
        (
            {
                "id": votes + k + 1,
                "assignment_id": k // GOLD_PER_SESSION + 1,
                "phase": "rating",
                "position": PER_SESSION + k % GOLD_PER_SESSION,
                "gold_id": (k // GOLD_PER_SESSION + k % GOLD_PER_SESSION) % GOLD_CLIPS + 1,
                "clip_key": f"g{k}",
                "duration_s": 10.0,
                "plays": 1,
            }
            for k in range(gold_items)
        ),
    )
    # The simulated crowd's raters (modeling/crowd.py), drawn session-wise for speed:
    # honest ones without a bias, cheaters answering everything uniformly at random.
    noise = rng.normal(0.0, 0.9, size=votes)
    scores = acr(quality[[stimulus_of(v) - 1 for v in range(votes)]] + noise)
    # Cheaters drawn at random, so that their sessions spread over all the stimuli.
    cheater = rng.random(raters) < CHEATER_SHARE
    cheats = cheater[np.arange(votes) // PER_SESSION // SESSIONS_PER_RATER]
    scores[cheats] = cheat_scores(rng, "uniform", int(cheats.sum()))
    gold_cheats = cheater[np.arange(gold_items) // GOLD_PER_SESSION // SESSIONS_PER_RATER]
    gold_scores = acr(GOLD_HEARD + rng.normal(0.0, 0.5, size=gold_items))
    gold_scores[gold_cheats] = cheat_scores(rng, "uniform", int(gold_cheats.sum()))

    def vote_rows() -> Iterator[dict[str, Any]]:
        for v in range(votes):
            s = v // PER_SESSION
            at = finished(s) - timedelta(seconds=30 * (PER_SESSION - v % PER_SESSION))
            yield {
                "id": v + 1,
                "item_id": v + 1,
                "experiment_id": e,
                "assignment_id": s + 1,
                "rater_id": s // SESSIONS_PER_RATER + 1,
                "phase": "rating",
                "stimulus_id": stimulus_of(v),
                "score": int(scores[v]),
                "play_started_at": at,
                "submitted_at": at,
                "listened_s": 10.2,
                "valid": s % 9 != 0,
            }

    def gold_vote_rows() -> Iterator[dict[str, Any]]:
        for k in range(gold_items):
            s = k // GOLD_PER_SESSION
            yield {
                "id": votes + k + 1,
                "item_id": votes + k + 1,
                "experiment_id": e,
                "assignment_id": s + 1,
                "rater_id": s // SESSIONS_PER_RATER + 1,
                "phase": "rating",
                "gold_id": (s + k % GOLD_PER_SESSION) % GOLD_CLIPS + 1,
                "score": int(gold_scores[k]),
                "play_started_at": finished(s),
                "submitted_at": finished(s),
                "listened_s": 10.2,
                "valid": s % 9 != 0,
            }

    copy_rows(Vote, vote_rows())
    copy_rows(Vote, gold_vote_rows())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return experiment


# --- Timings ----------------------------------------------------------------------------


def timed(
    label: str, repeat: int, fn: Callable[[], Any], before: Callable[[], Any] | None = None
) -> Any:
    """Run `fn` `repeat` times and print min, median and max; `before` runs, untimed,
    before each run."""
    times, result = [], None
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    print(
        f"{label:<44} min {min(times):7.3f} s   median {statistics.median(times):7.3f} s"
        f"   max {max(times):7.3f} s   ({repeat} runs)"
    )
    return result


def run_timings(experiment: Any, repeat: int, *, screen: bool) -> None:
    from crowdtest.rating.models import Vote
    from crowdtest.results import dashboard, selectors
    from crowdtest.results.services import experiment_screen, mos_compute, results_refresh

    votes = Vote.objects.filter(experiment=experiment, stimulus__isnull=False)
    gold = Vote.objects.filter(experiment=experiment, gold__isnull=False)
    print(
        f"votes: {votes.count():,} ({votes.filter(valid=True).count():,} valid) and "
        f"{gold.count():,} gold answers, stimuli: {experiment.stimuli.count():,}; "
        f"load average {load()}"
    )
    stats = timed(
        "MOS aggregation (stimulus_vote_stats)",
        repeat,
        lambda: selectors.stimulus_vote_stats(experiment=experiment),
    )
    report = timed(
        "compute_mos without screening (mos_compute)",
        repeat,
        lambda: mos_compute(experiment=experiment),
    )
    counts = [s.n for s in stats]
    print(f"  -> {report.summary()}; valid votes per stimulus {min(counts)}..{max(counts)}")
    overview = timed(
        "dashboard overview", repeat, lambda: dashboard.overview(experiment=experiment)
    )
    timed(
        "dashboard distributions",
        repeat,
        lambda: dashboard.distributions(
            experiment=experiment, stimuli_rated=overview.stimuli_rated
        ),
    )
    timed(
        "dashboard progress series (plot data)",
        repeat,
        lambda: dashboard.progress_series(experiment=experiment),
    )
    timed("dashboard rater report", repeat, lambda: selectors.rater_report(experiment=experiment))
    if screen:
        # Screening writes only what changed since the last run: timed once with nothing
        # stored (the first screening, or one under new rules, writes every verdict), then
        # again with nothing changed, as compute_mos runs it while votes come in. A
        # database that lives long has autovacuum for the dead rows; here VACUUM runs
        # before each run.
        def cleared() -> None:
            screening_clear(experiment)
            vacuum()

        result = timed(
            "screening, nothing stored (experiment_screen)",
            repeat,
            lambda: experiment_screen(experiment=experiment),
            before=cleared,
        )
        print(f"  -> {result.summary()}")
        timed(
            "screening again, nothing changed",
            repeat,
            lambda: experiment_screen(experiment=experiment),
            before=vacuum,
        )
        timed(
            "screening then MOS, nothing stored (results_refresh)",
            repeat,
            lambda: results_refresh(experiment=experiment),
            before=cleared,
        )
        timed(
            "screening then MOS again (what compute_mos runs)",
            repeat,
            lambda: results_refresh(experiment=experiment),
            before=vacuum,
        )
        same, checked = one_by_one_agrees(experiment, sample=2000)
        print(f"  -> {same} of {checked} sampled verdicts equal to screening one session at a time")
    print(f"load average after: {load()}")


def screening_clear(experiment: Any) -> None:
    """Forget the experiment's screening (verdicts, rater verdicts, vote exclusions)."""
    from crowdtest.results.models import RaterVerdict, SessionVerdict, VoteExclusion

    for model in (SessionVerdict, RaterVerdict, VoteExclusion):
        model.objects.filter(experiment=experiment).delete()


def vacuum() -> None:
    from django.db import connection

    from crowdtest.rating.models import Vote
    from crowdtest.results.models import RaterVerdict, SessionVerdict, VoteExclusion

    with connection.cursor() as cursor:
        for model in (Vote, SessionVerdict, RaterVerdict, VoteExclusion):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def one_by_one_agrees(experiment: Any, *, sample: int) -> tuple[int, int]:
    """Screen `sample` sessions again one at a time with `modeling.screening.screen_session`
    (each from its own rows, as screening read them before it was set-wise) and count the
    stored verdicts that agree, reasons included."""
    from collections import defaultdict

    from crowdtest.rating.models import Assignment, AssignmentItem, Vote
    from crowdtest.results.models import SessionVerdict
    from crowdtest.results.services.screening import screening_rules
    from modeling.screening import SessionAnswers, screen_session

    rules = screening_rules(experiment.config)
    ids = list(
        Assignment.objects.filter(experiment=experiment)
        .order_by("?")
        .values_list("pk", flat=True)[:sample]
    )
    scores: dict[int, list[int]] = defaultdict(list)
    hidden: dict[int, list[float | None]] = defaultdict(list)
    for pk, score, hidden_s in Vote.objects.filter(
        assignment_id__in=ids, phase="rating", stimulus__isnull=False
    ).values_list("assignment_id", "score", "hidden_s"):
        scores[pk].append(score)
        hidden[pk].append(hidden_s)
    checks: dict[tuple[int, str], list[tuple[int, int | None]]] = defaultdict(list)
    for pk, expected, given in AssignmentItem.objects.filter(
        assignment_id__in=ids, trap__isnull=False
    ).values_list("assignment_id", "trap__answer", "vote__score"):
        checks[pk, "trap"].append((expected, given))
    for pk, expected, given in AssignmentItem.objects.filter(
        assignment_id__in=ids, gold__isnull=False
    ).values_list("assignment_id", "gold__answer", "vote__score"):
        checks[pk, "gold"].append((expected, given))
    stored = {
        v.assignment_id: (v.rules_valid, v.reasons, v.ordinal)
        for v in SessionVerdict.objects.filter(assignment_id__in=ids)
    }
    same = 0
    for a in Assignment.objects.filter(pk__in=ids):
        valid, reasons, ordinal = stored[a.pk]
        answers = SessionAnswers(
            session=a.pk,
            rater=a.rater_id,
            ordinal=ordinal or 0,
            completed=a.status == Assignment.Status.COMPLETED,
            scores=scores[a.pk],
            math_correct=None if a.math_answer is None else a.math_given == a.math_answer,
            hearing_normal=a.hearing_normal,
            headphones=a.headphones,
            setup_passed=a.digits_correct,
            traps=checks[a.pk, "trap"],
            gold=checks[a.pk, "gold"],
            hidden_s=hidden[a.pk],
        )
        verdict = screen_session(answers, rules)
        same += verdict.valid == valid and [r.value for r in verdict.reasons] == reasons
    return same, len(ids)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_machine(url: str) -> None:
    model = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {model}, {os.cpu_count()} CPUs ({usable} usable), {platform.platform()}")
    import psycopg

    try:
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
            version = conn.execute("SHOW server_version").fetchone()
        print(f"python {platform.python_version()}, PostgreSQL {version[0] if version else '?'}")
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {url}: {exc}") from exc
