"""`build_sessions` of DCR, CCR and pairwise tests on a small real corpus: synthetic
tracks imported and prepared by the corpus services, versions set as on the Corpus tab,
then the prompts spoken by espeak-ng, a clip per order of a pair and traps as long as a
pair encoded, and the sessions planned."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.services import (
    experiment_create,
    stimuli_prepare,
    tracks_import,
    tracks_set_versions,
)
from crowdtest.design.clips import PAIR_GAP_S
from crowdtest.design.models import Comparison, Design, GoldClip, Prompt, SessionItem, Trap
from crowdtest.jobs.models import Job
from modeling.comparison import TRAP_ANSWERS
from modeling.synth import write_demo_corpus

from .test_build_sessions import BUILDS

# Committed transactions: preparing and building run as jobs queued after the commit.
pytestmark = [mark for mark in BUILDS if mark.name != "django_db"] + [
    pytest.mark.django_db(transaction=True)
]

EXCERPT_S = 2.0


def built(tmp_path: Path, method: str, versions: str) -> Experiment:
    write_demo_corpus(tmp_path, n_tracks=6, seconds=2.5, sample_rate=16000, seed=4)
    experiment = experiment_create(
        slug=f"compare-{method}",
        name=f"Compare {method}",
        settings={
            "test_method": method,
            "excerpt_seconds": EXCERPT_S,
            "votes_per_stimulus": 2,
            "comparisons_per_session": 3,
            "training_size": 2,
            "trap_sources": 1,
            "traps_per_session": 1,
            "delivery_bitrate_kbps": 64,
        },
    )
    tracks_import(experiment=experiment, source=str(tmp_path / "manifest.csv"))
    tracks_set_versions(experiment=experiment, text=versions)
    stimuli_prepare(experiment=experiment)
    out = io.StringIO()
    call_command("build_sessions", experiment.slug, "--digits-clips", "2", stdout=out)
    assert "rating sessions of up to 3 pairs (+ traps)" in out.getvalue()
    # The build's progress counts its steps exactly: every pair, trap and gold pair.
    job = Job.objects.get(scope=experiment.job_scope, kind="build_sessions")
    assert (job.status, job.done, job.failed) == ("succeeded", job.total, 0)
    return experiment


@pytest.mark.parametrize("method", ["dcr", "ccr"])
def test_a_reference_test_builds_a_clip_per_order_and_pair_long_traps(
    tmp_path: Path, method: str
) -> None:
    experiment = built(
        tmp_path,
        method,
        "track_002.flac,lp,track_001.wav\ntrack_003.wav,lp,track_001.wav\n",
    )
    assert Design.objects.filter(experiment=experiment).exists()
    comparisons = list(Comparison.objects.filter(experiment=experiment))
    orders = {(c.first.track.original_name, c.second.track.original_name) for c in comparisons}
    forward = {("track_001.wav", "track_002.flac"), ("track_001.wav", "track_003.wav")}
    assert orders == (forward if method == "dcr" else forward | {(b, a) for a, b in forward})
    pair_s = 2 * EXCERPT_S + PAIR_GAP_S
    for comparison in comparisons:
        assert comparison.reference is not None
        assert comparison.reference.track.original_name == "track_001.wav"
        assert comparison.duration_s == pytest.approx(pair_s, abs=0.1)
    traps = Trap.objects.filter(experiment=experiment)
    assert sorted(t.answer for t in traps) == sorted(TRAP_ANSWERS[method])
    assert all(t.duration_s >= pair_s - 0.1 for t in traps)
    # The gold pairs: the trap source's music beside its ruined copy, in both orders.
    gold = GoldClip.objects.filter(experiment=experiment)
    assert sorted(g.answer for g in gold) == ([1, 5] if method == "dcr" else [-3, 3])
    assert all(g.duration_s == pytest.approx(pair_s, abs=0.1) for g in gold)
    # 2 s excerpts are shorter than a spoken message: the design says the traps are longer.
    design = Design.objects.get(experiment=experiment)
    assert any("longer than a pair" in warning for warning in design.warnings)
    # Its training plays pairs of the test itself, which the design says.
    assert any("judge a pair in training and again" in warning for warning in design.warnings)
    keys = set(Prompt.objects.filter(experiment=experiment).values_list("key", flat=True))
    assert {f"trap-{method}-1", f"trap-{method}-m3"} & keys or method == "dcr"
    rating = SessionItem.objects.filter(session__experiment=experiment, session__kind="rating")
    assert rating.filter(comparison__isnull=False).count() == 2 * 2
    assert rating.filter(stimulus__isnull=False).count() == 0


def test_a_pairwise_test_builds_its_planned_pairs(tmp_path: Path) -> None:
    experiment = built(
        tmp_path,
        "pairwise",
        "track_001.wav,lp\ntrack_002.flac,lp\ntrack_003.wav,lp\ntrack_004.flac,lp\n",
    )
    rating = SessionItem.objects.filter(
        session__experiment=experiment, session__kind="rating", comparison__isnull=False
    ).select_related("comparison")
    judged = Counter(
        frozenset((i.comparison.first_id, i.comparison.second_id))
        for i in rating
        if i.comparison is not None
    )
    assert sum(judged.values()) == 2 * 3  # votes x (n - 1), against 2 x 6 for every pair
    assert all(c.work_id == "lp" for c in Comparison.objects.filter(experiment=experiment))
    traps = Trap.objects.filter(experiment=experiment)
    gold = GoldClip.objects.filter(experiment=experiment)
    assert sorted(traps.values_list("answer", flat=True)) == [1, 2]
    assert sorted(gold.values_list("answer", flat=True)) == [1, 2]
