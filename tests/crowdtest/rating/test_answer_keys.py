"""No answer key ever reaches the browser: a whole session is taken through the pages
and the API, and every response (HTML, JSON, the page's script and style) is searched for
the trap messages, the digits, the math answer and anything naming a stimulus or a trap."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from crowdtest.design.clips import prompt_text
from crowdtest.design.models import DigitsClip, Trap
from crowdtest.rating.models import Assignment
from tests.crowdtest.rating.designs import RaterClient, make_design, take_session

pytestmark = pytest.mark.django_db

FORBIDDEN_KEYS = {
    "answer",
    "math_answer",
    "digits",
    "expected",
    "expected_answer",
    "stimulus",
    "stimulus_id",
    "trap",
    "trap_id",
    "gold",
    "gold_id",
    "track",
    "cluster",
    "media_key",
    "duration",
    "duration_s",
    "valid",
}


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def strings_of(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_of(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_of(v)]
    return [str(value)]


def test_no_answer_key_reaches_the_browser(client: Client) -> None:
    built = make_design(trap_sources=2, traps_per_session=2)
    experiment = built.experiment
    entry = client.get(
        f"/take/{experiment.slug}/",
        {
            "workerId": "AWORKER1",
            "assignmentId": "ASSIGN1",
            "hitId": "HIT1",
            "turkSubmitTo": "https://www.mturk.com",
        },
    )
    found = re.search(r'data-token="([^"]+)"', entry.content.decode())
    assert found is not None
    token = found.group(1)
    rc = RaterClient(client, experiment, "AWORKER1", "mturk", assignment_id="ASSIGN1")
    rc.token = token
    state = take_session(rc)
    assert state["stage"] == "finished"
    assignment = Assignment.objects.get()
    assert assignment.items.filter(trap__isnull=False).count() == 2

    pages = [entry.content.decode()]
    for name in ("rating/take.js", "rating/take.css"):
        pages.append((Path(settings.BASE_DIR) / "static" / name).read_text())
    bodies = [r.json() for r in rc.responses]
    text = "\n".join(pages + [json.dumps(b) for b in bodies])

    leaked_keys = set().union(*(keys_of(b) for b in bodies)) & FORBIDDEN_KEYS
    assert not leaked_keys
    lowered = text.lower()
    for phrase in ("trap", "interruption", "select the answer", "math_answer"):
        assert phrase not in lowered, phrase
    for trap in Trap.objects.filter(experiment=experiment):
        assert prompt_text(f"trap-{trap.answer}").lower() not in lowered
        assert trap.delivery.name is not None
        assert trap.media_key not in text and trap.delivery.name not in text
    for stimulus in built.rated + built.sources:
        track = stimulus.track
        for secret in (stimulus.media_key, track.original_name, track.source, track.checksum):
            assert secret not in text, secret
    values = [s for b in bodies for s in strings_of(b)] + re.findall(r">([^<]*)<", pages[0])
    for clip in DigitsClip.objects.filter(experiment=experiment):
        assert clip.digits not in values
        assert not re.search(rf"(?<![\w-]){clip.digits}(?![\w-])", pages[0])
    assert str(assignment.math_answer) not in re.findall(r"\d+", assignment.math_question)
    question_texts = [b["questions"]["math"] for b in bodies if "questions" in b]
    assert question_texts == [assignment.math_question]
