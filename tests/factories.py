"""factory_boy factories for the models, shared by the whole suite. Files are tiny
placeholders; tests that need real audio synthesise it (modeling.synth)."""

from __future__ import annotations

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from crowdtest.corpus.models import Experiment, Stimulus, Track
from crowdtest.design.models import Session, SessionItem, Trap
from crowdtest.rating.models import Assignment, AssignmentItem, Rater, Vote


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment

    slug = factory.Sequence(lambda n: f"exp-{n}")
    name = factory.Sequence(lambda n: f"Experiment {n}")
    settings: dict = factory.LazyFunction(dict)


class TrackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Track

    experiment = factory.SubFactory(ExperimentFactory)
    source_kind = Track.SourceKind.PATH
    source = factory.Sequence(lambda n: f"/archive/track_{n:04d}.wav")
    original_name = factory.Sequence(lambda n: f"track_{n:04d}.wav")
    checksum = factory.Sequence(lambda n: f"{n:064x}")
    duration_s = 180.0
    sample_rate = 44100
    channels = 2


class StimulusFactory(factory.django.DjangoModelFactory):
    """A ready stimulus with a small placeholder delivery file."""

    class Meta:
        model = Stimulus

    track = factory.SubFactory(TrackFactory)
    experiment = factory.SelfAttribute("track.experiment")
    status = Stimulus.Status.READY
    duration_s = 10.0
    sample_rate = 44100
    channels = 2
    lufs_before = -18.0
    lufs_after = -23.0
    gain_db = -5.0
    true_peak_db = -6.0
    codec = "AAC-LC (ffmpeg aac)"
    encoder = "aac"
    bitrate_kbps = 320
    cluster = 0
    role = Stimulus.Role.RATED
    delivery = factory.LazyAttribute(
        lambda o: ContentFile(b"\x00" * 64, name=f"{o.track.checksum[:16]}.m4a")
    )
    prepared_at = factory.LazyFunction(timezone.now)


class TrapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trap

    source = factory.SubFactory(StimulusFactory, role=Stimulus.Role.TRAP_SOURCE)
    experiment = factory.SelfAttribute("source.experiment")
    answer = 3
    delivery = factory.LazyFunction(lambda: ContentFile(b"\x00" * 64, name="trap.m4a"))
    duration_s = 10.0


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    experiment = factory.SubFactory(ExperimentFactory)
    kind = Session.Kind.RATING
    index = factory.Sequence(lambda n: n)


class SessionItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionItem

    session = factory.SubFactory(SessionFactory)
    position = factory.Sequence(lambda n: n)
    stimulus = factory.SubFactory(
        StimulusFactory, track__experiment=factory.SelfAttribute("...session.experiment")
    )


class RaterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rater

    experiment = factory.SubFactory(ExperimentFactory)
    platform = Rater.Platform.LINK
    external_id = factory.Sequence(lambda n: f"rater-{n}")


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    rater = factory.SubFactory(RaterFactory)
    experiment = factory.SelfAttribute("rater.experiment")
    session = factory.SubFactory(SessionFactory, experiment=factory.SelfAttribute("..experiment"))
    stage = Assignment.Stage.FINISHED
    status = Assignment.Status.COMPLETED
    math_question = "What is 2 plus 3?"
    math_answer = 5
    math_given = 5
    hearing_normal = True
    headphones = True
    digits_correct = True
    finished_at = factory.LazyFunction(timezone.now)


class AssignmentItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssignmentItem

    assignment = factory.SubFactory(AssignmentFactory)
    phase = AssignmentItem.Phase.RATING
    position = factory.Sequence(lambda n: n)
    stimulus = factory.SubFactory(
        StimulusFactory, track__experiment=factory.SelfAttribute("...assignment.experiment")
    )
    duration_s = 10.0
    play_started_at = factory.LazyFunction(timezone.now)
    plays = 1


class VoteFactory(factory.django.DjangoModelFactory):
    """A vote on a stimulus; pass `item` to vote on an existing assignment item."""

    class Meta:
        model = Vote

    item = factory.SubFactory(AssignmentItemFactory)
    experiment = factory.SelfAttribute("item.assignment.experiment")
    assignment = factory.SelfAttribute("item.assignment")
    rater = factory.SelfAttribute("item.assignment.rater")
    phase = factory.SelfAttribute("item.phase")
    stimulus = factory.SelfAttribute("item.stimulus")
    trap = factory.SelfAttribute("item.trap")
    score = 4
    play_started_at = factory.LazyFunction(timezone.now)
    listened_s = 10.2


class StimulusMOSFactory(factory.django.DjangoModelFactory):
    """An imported MOS label of a stimulus (Vinylset-style: MOS, CI half-width, class)."""

    class Meta:
        model = "results.StimulusMOS"

    stimulus = factory.SubFactory(StimulusFactory)
    experiment = factory.SelfAttribute("stimulus.experiment")
    source = "imported"
    mos = 3.0
    std = 0.8
    n = 15
    ci95_normal = 0.4
    mosgroup = ""
    computed_at = factory.LazyFunction(timezone.now)


class ModelRunFactory(factory.django.DjangoModelFactory):
    """A finished w2vMOS cross-validation with a summary (no folds, no files)."""

    class Meta:
        model = "training.ModelRun"

    experiment = factory.SubFactory(ExperimentFactory)
    kind = "crossval"
    status = "succeeded"
    config: dict = factory.LazyFunction(
        lambda: {"backbone": "facebook/wav2vec2-base", "random_labels": False, "cv": {"k": 3}}
    )
    summary: dict = factory.LazyFunction(
        lambda: {
            m: {"mean": v, "std": 0.05}
            for m, v in (("rmse", 0.3), ("pcc", 0.5), ("srcc", 0.45), ("pra", 0.88))
        }
    )
    n_items = 620
    code_version = "test"
