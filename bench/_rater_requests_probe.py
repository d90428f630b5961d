"""The measurement behind `python -m bench rater_requests` (run by pytest, for its test
database and Django's test client): raters take whole sessions of a small design, and the
CPU time of each call of a clip's cycle is printed. It asserts what the calls answer, never
how long they took."""

from __future__ import annotations

import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test import Client

from crowdtest.rating.models import AssignmentItem
from tests.crowdtest.rating.designs import RaterClient, make_design, to_rating

pytestmark = pytest.mark.django_db


def timed(costs: list[float], call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    started = time.thread_time()
    result = call(*args, **kwargs)
    costs.append(time.thread_time() - started)
    return result


def test_cpu_per_rater_request(client: Client) -> None:
    built = make_design(per_cluster=4, votes=30)
    costs: dict[str, list[float]] = defaultdict(list)
    for n in range(int(os.environ.get("BENCH_RATERS", "12"))):
        rc = RaterClient(client, built.experiment, f"bench-{n}")
        for clip in to_rating(rc)["clips"]:
            key = clip["clip"]
            item = AssignmentItem.objects.select_related("trap").get(clip_key=key)
            score = item.trap.answer if item.trap is not None else 3
            assert timed(costs["clip"], rc.fetch_clip, key).status_code == 200
            played = timed(costs["play"], rc.post, "play", {"clip": key}, fetch=False)
            assert played.status_code == 200
            rated = timed(costs["rate"], rc.post, "rate", {"clip": key, "score": score})
            assert rated.status_code == 200, rated.content
            timed(costs["state"], rc.state)
    print(
        f"\n{connection.vendor}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}; CPU time per call (ms):"
    )
    for name, values in costs.items():
        ms = np.asarray(values) * 1000
        print(
            f"  {name:<6} median {np.median(ms):5.2f}  p90 {np.percentile(ms, 90):5.2f}  "
            f"over {ms.size} calls"
        )
    cycle = sum(float(np.median(costs[name])) for name in ("clip", "play", "rate")) * 1000
    print(f"  a clip's cycle (audio, play, rate): {cycle:.2f} ms of CPU (medians summed)")
