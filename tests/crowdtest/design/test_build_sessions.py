"""`build_sessions` on a small real corpus: synthetic tracks imported, prepared and
clustered by the corpus services, then prompts spoken by espeak-ng, traps and digits
encoded, and the sessions planned."""

from __future__ import annotations

import io
import math
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from pytest_django import DjangoDbBlocker

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.corpus.services import (
    deliveries_encode,
    experiment_create,
    stimuli_cluster,
    stimuli_prepare,
    tracks_import,
)
from crowdtest.design.models import (
    Design,
    DigitsClip,
    GoldClip,
    Prompt,
    Session,
    SessionItem,
    Trap,
)
from crowdtest.jobs.models import Job
from crowdtest.rating.models import Assignment, AssignmentItem, Vote
from modeling.audio.probe import probe_audio
from modeling.synth import write_demo_corpus
from tests.conftest import IN_CI

# The marks of every module that builds sessions from real audio.
BUILDS = [
    pytest.mark.django_db,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("espeak-ng") and shutil.which("ffmpeg")) and not IN_CI,
        reason="needs espeak-ng and ffmpeg",
    ),
]
pytestmark = BUILDS

SETTINGS = {
    "excerpt_seconds": 2.0,
    "n_clusters": 3,
    "stimuli_per_cluster": 2,
    "training_size": 4,
    "trap_sources": 2,
    "votes_per_stimulus": 4,
    "delivery_bitrate_kbps": 64,
    "seed": 3,
}


def wipe(experiment: Experiment) -> None:
    """Delete an experiment whose design protects its stimuli."""
    Vote.objects.filter(experiment=experiment).delete()
    AssignmentItem.objects.filter(assignment__experiment=experiment).delete()
    Assignment.objects.filter(experiment=experiment).delete()
    SessionItem.objects.filter(session__experiment=experiment).delete()
    Trap.objects.filter(experiment=experiment).delete()
    GoldClip.objects.filter(experiment=experiment).delete()
    Job.objects.filter(scope=experiment.job_scope).delete()
    experiment.delete()


def prepared_experiment(
    folder: Path, *, slug: str, settings: dict[str, Any], n_tracks: int, seed: int
) -> Experiment:
    """An experiment on `n_tracks` synthetic tracks, imported, prepared, clustered and
    encoded for delivery by the corpus services: ready for a build."""
    write_demo_corpus(folder, n_tracks=n_tracks, seconds=2.5, sample_rate=16000, seed=seed)
    experiment = experiment_create(
        slug=slug, name=slug.replace("-", " ").title(), settings=settings
    )
    tracks_import(experiment=experiment, source=str(folder / "manifest.csv"))
    stimuli_prepare(experiment=experiment)
    stimuli_cluster(experiment=experiment)
    deliveries_encode(experiment=experiment)
    return experiment


BUILD_OUTPUT: dict[int, str] = {}  # what `build_sessions` printed, by experiment


def built_by_command(
    folder: Path, *, slug: str, settings: dict[str, Any], seed: int, digits_clips: int
) -> Iterator[Experiment]:
    """A prepared experiment of 20 tracks built with `build_sessions` (its output kept in
    `BUILD_OUTPUT`), wiped afterwards: the body of a module-scoped fixture."""
    experiment = prepared_experiment(folder, slug=slug, settings=settings, n_tracks=20, seed=seed)
    out = io.StringIO()
    call_command("build_sessions", experiment.slug, "--digits-clips", str(digits_clips), stdout=out)
    BUILD_OUTPUT[experiment.pk] = out.getvalue()
    # The build's progress counts its steps exactly.
    job = Job.objects.get(scope=experiment.job_scope, kind="build_sessions")
    assert (job.status, job.done, job.failed) == ("succeeded", job.total, 0)
    yield experiment
    del BUILD_OUTPUT[experiment.pk]
    wipe(experiment)


@pytest.fixture(scope="module")
def built(
    django_db_setup: None,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Experiment]:
    folder = tmp_path_factory.mktemp("design-corpus")
    with django_db_blocker.unblock():
        yield from built_by_command(
            folder, slug="design-build", settings=SETTINGS, seed=1, digits_clips=3
        )


def test_the_command_reports_what_it_built(built: Experiment) -> None:
    output = BUILD_OUTPUT[built.pk]
    design = Design.objects.get(experiment=built)
    assert f"{design.n_rating_sessions} rating sessions of 3 clusters x 2 stimuli" in output
    assert "10 traps from 2 sources, 4 training stimuli, 3 digits clips; seed 3" in output
    assert "traps last" in output  # 2 s stimuli are shorter than the spoken message


def test_rating_sessions_hold_per_cluster_stimuli_a_trap_and_gold(built: Experiment) -> None:
    design = Design.objects.get(experiment=built)
    selected = Counter(
        Stimulus.objects.filter(experiment=built, role="rated").values_list("cluster", flat=True)
    )
    size = max(selected.values())
    assert design.n_rating_sessions == math.ceil(size * 4 / 2)
    appearances: Counter[int] = Counter()
    for session in Session.objects.filter(experiment=built, kind="rating"):
        items = list(session.items.select_related("stimulus").order_by("position"))
        stimuli = [i.stimulus for i in items if i.stimulus is not None]
        assert Counter(s.cluster for s in stimuli) == dict.fromkeys(selected, 2)
        assert len({s.pk for s in stimuli}) == len(stimuli)
        traps = [i for i in items if i.trap_id is not None]
        assert len(traps) == 1 and traps[0].position > 0
        # The default design holds two gold clips, made from the two trap sources.
        gold = [i for i in items if i.gold_id is not None]
        assert len(gold) == 2 and len({i.gold_id for i in gold}) == 2 and gold[0].position > 0
        appearances.update(s.pk for s in stimuli)
    assert set(appearances) == set(
        Stimulus.objects.filter(experiment=built, role="rated").values_list("pk", flat=True)
    )
    assert max(appearances.values()) - min(appearances.values()) <= 1
    training = SessionItem.objects.filter(session__experiment=built, session__kind="training")
    clusters = Counter(training.values_list("stimulus__cluster", flat=True))
    assert sum(clusters.values()) == 4 and len(clusters) >= 2
    # Drawn from the stimuli left out of rating: no rater hears a training clip again.
    trained = Stimulus.objects.filter(pk__in=training.values_list("stimulus", flat=True))
    assert not set(trained.values_list("pk", flat=True)) & set(appearances)
    assert {s.role for s in trained} == {"training"} and all(s.delivery for s in trained)
    assert not any("drawn from the stimuli to rate" in w for w in design.warnings)


def test_traps_are_sources_times_answers_with_their_keys(built: Experiment) -> None:
    traps = list(Trap.objects.filter(experiment=built).select_related("source"))
    assert len(traps) == 10
    assert Counter(t.answer for t in traps) == {1: 2, 2: 2, 3: 2, 4: 2, 5: 2}
    sources = {t.source for t in traps}
    assert len(sources) == 2
    assert all(s.role == "trap_source" for s in sources)
    assert Stimulus.objects.filter(experiment=built, role="trap_source").count() == 2
    lengths = {t.duration_s for t in traps}
    assert len(lengths) == 1  # every trap as long as the others
    for trap in traps[:1]:
        name = trap.delivery.name
        assert name is not None
        assert name.startswith(f"stimuli/{built.pk}/")  # beside the stimuli
        assert trap.media_key in name
        info = probe_audio(Path(default_storage.path(name)))
        assert abs(info.duration_s - trap.duration_s) < 0.1 and info.channels == 2


def test_digits_volume_and_prompts_are_made(built: Experiment) -> None:
    clips = list(DigitsClip.objects.filter(experiment=built))
    assert len(clips) == 3
    for clip in clips:
        assert 2 <= len(clip.digits) <= 3 and clip.digits.isdigit() and "0" not in clip.digits
        assert len(clip.channels) == len(clip.digits) and set(clip.channels) == {"L", "R"}
        assert clip.delivery.name is not None
        assert default_storage.exists(clip.delivery.name)
    design = Design.objects.get(experiment=built)
    assert design.volume_clip.name is not None
    assert default_storage.exists(design.volume_clip.name)
    prompts = Prompt.objects.filter(experiment=built)
    assert prompts.count() == 14 and {p.source for p in prompts} == {"synthesised"}
    assert prompts.get(key="trap-5").text.endswith("please select the answer excellent.")
    assert design.settings_snapshot["votes_per_stimulus"] == 4
    assert design.code_version


def test_a_rebuild_is_refused_once_votes_exist(built: Experiment) -> None:
    from tests.factories import AssignmentFactory, AssignmentItemFactory, VoteFactory

    session = Session.objects.filter(experiment=built, kind="rating").first()
    stimulus = Stimulus.objects.filter(experiment=built, role="rated").first()
    assignment = AssignmentFactory(rater__experiment=built, session=session)
    VoteFactory(item=AssignmentItemFactory(assignment=assignment, stimulus=stimulus))
    with pytest.raises(CommandError, match="Votes have already been collected"):
        call_command("build_sessions", built.slug, stdout=io.StringIO())


def test_gold_clips_known_to_be_bad_are_made_from_the_trap_sources(built: Experiment) -> None:
    gold = list(GoldClip.objects.filter(experiment=built).select_related("source"))
    assert len(gold) == 2 and {g.answer for g in gold} == {1}
    sources = set(Trap.objects.filter(experiment=built).values_list("source", flat=True))
    assert {g.source_id for g in gold} == sources  # music no rated session holds
    assert {g.source.role for g in gold} == {"trap_source"}
    rated = Stimulus.objects.filter(experiment=built, role="rated").first()
    assert rated is not None
    assert rated.delivery.name is not None
    for clip in gold:
        name = clip.delivery.name
        assert name is not None
        assert clip.media_key in name and name.endswith(".m4a")
        info = probe_audio(Path(default_storage.path(name)))
        rated_info = probe_audio(Path(default_storage.path(rated.delivery.name)))
        assert abs(info.duration_s - rated_info.duration_s) < 0.1  # as long as a stimulus
