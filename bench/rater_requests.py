"""CPU per rater request, in process: what each call of a clip's cycle (the clip's audio,
`play`, `rate`) and `state` costs the web process, without a server or a load generator
in the way. Raters take whole sessions of a real small design through Django's test client
on the database named by DATABASE_URL (PostgreSQL for figures that mean something), and
the thread's CPU time (`time.thread_time`) is taken around each call: a figure that other
processes on the machine move far less than they move a wall-clock latency.

    python -m bench rater_requests -- --raters 12 --database-url postgres://postgres@127.0.0.1:5432/crowdtest_bench_requests

The database is a scratch test database (created and dropped by pytest-django, with
`test_` before its name)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("_rater_requests_probe.py")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench rater_requests", description=__doc__)
    parser.add_argument("--raters", type=int, default=12, help="raters, a session each")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="where the scratch test database goes (default: DATABASE_URL, else SQLite)",
    )
    options = parser.parse_args(argv)
    os.environ["BENCH_RATERS"] = str(options.raters)
    if options.database_url:
        os.environ["DATABASE_URL"] = options.database_url
    code = pytest.main(
        [str(PROBE), "-q", "-s", "-p", "no:randomly", "-p", "no:cacheprovider", "--no-header"]
    )
    if code:
        sys.exit(int(code))
