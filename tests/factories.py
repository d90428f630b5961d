"""factory_boy factories for the models, shared by the whole suite. Files are tiny
placeholders; tests that need real audio synthesise it (modeling.synth)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.core.files.base import ContentFile
from django.db.models import Model
from django.utils import timezone
from factory.declarations import LazyAttribute, LazyFunction, SelfAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory

from crowdtest.corpus.models import Experiment, Stimulus, Track
from crowdtest.design.models import GoldClip, Session, SessionItem, Trap
from crowdtest.rating.models import Assignment, AssignmentItem, Rater, Vote
from crowdtest.results.models import StimulusMOS
from crowdtest.training.models import ModelRun

M = TypeVar("M", bound=Model)


class ModelFactory(DjangoModelFactory[M]):
    """A factory of model M: calling it creates and returns an M, as `create()` does."""

    class Meta:
        abstract = True

    if TYPE_CHECKING:
        # The call goes through factory_boy's metaclass `__call__` and returns the model,
        # but its typing (an untyped `__new__`) says it returns the factory.
        def __new__(cls, **kwargs: Any) -> M: ...  # type: ignore[misc]


class ExperimentFactory(ModelFactory[Experiment]):
    class Meta:
        model = Experiment

    slug = Sequence(lambda n: f"exp-{n}")
    name = Sequence(lambda n: f"Experiment {n}")
    settings = LazyFunction(dict)


class TrackFactory(ModelFactory[Track]):
    class Meta:
        model = Track

    experiment = SubFactory(ExperimentFactory)
    source_kind = Track.SourceKind.PATH
    source = Sequence(lambda n: f"/archive/track_{n:04d}.wav")
    original_name = Sequence(lambda n: f"track_{n:04d}.wav")
    checksum = Sequence(lambda n: f"{n:064x}")
    duration_s = 180.0
    sample_rate = 44100
    channels = 2


class StimulusFactory(ModelFactory[Stimulus]):
    """A ready stimulus with a small placeholder delivery file."""

    class Meta:
        model = Stimulus

    track = SubFactory(TrackFactory)
    experiment = SelfAttribute("track.experiment")
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
    delivery = LazyAttribute(
        lambda o: ContentFile(b"\x00" * 64, name=f"{o.track.checksum[:16]}.m4a")
    )
    prepared_at = LazyFunction(timezone.now)


class TrapFactory(ModelFactory[Trap]):
    class Meta:
        model = Trap

    source = SubFactory(StimulusFactory, role=Stimulus.Role.TRAP_SOURCE)
    experiment = SelfAttribute("source.experiment")
    answer = 3
    delivery = LazyFunction(lambda: ContentFile(b"\x00" * 64, name="trap.m4a"))
    duration_s = 10.0


class GoldClipFactory(ModelFactory[GoldClip]):
    class Meta:
        model = GoldClip

    source = SubFactory(StimulusFactory, role=Stimulus.Role.GOLD)
    experiment = SelfAttribute("source.experiment")
    answer = 1
    delivery = LazyFunction(lambda: ContentFile(b"\x00" * 64, name="gold.m4a"))
    duration_s = 10.0


class SessionFactory(ModelFactory[Session]):
    class Meta:
        model = Session

    experiment = SubFactory(ExperimentFactory)
    kind = Session.Kind.RATING
    index = Sequence(lambda n: n)


class SessionItemFactory(ModelFactory[SessionItem]):
    class Meta:
        model = SessionItem

    session = SubFactory(SessionFactory)
    position = Sequence(lambda n: n)
    stimulus = SubFactory(StimulusFactory, track__experiment=SelfAttribute("...session.experiment"))


class RaterFactory(ModelFactory[Rater]):
    class Meta:
        model = Rater

    experiment = SubFactory(ExperimentFactory)
    platform = Rater.Platform.LINK
    external_id = Sequence(lambda n: f"rater-{n}")


class AssignmentFactory(ModelFactory[Assignment]):
    class Meta:
        model = Assignment

    rater = SubFactory(RaterFactory)
    experiment = SelfAttribute("rater.experiment")
    session = SubFactory(SessionFactory, experiment=SelfAttribute("..experiment"))
    stage = Assignment.Stage.FINISHED
    status = Assignment.Status.COMPLETED
    math_question = "What is 2 plus 3?"
    math_answer = 5
    math_given = 5
    hearing_normal = True
    headphones = True
    digits_correct = True
    finished_at = LazyFunction(timezone.now)


class AssignmentItemFactory(ModelFactory[AssignmentItem]):
    class Meta:
        model = AssignmentItem

    assignment = SubFactory(AssignmentFactory)
    phase = AssignmentItem.Phase.RATING
    position = Sequence(lambda n: n)
    stimulus = SubFactory(
        StimulusFactory, track__experiment=SelfAttribute("...assignment.experiment")
    )
    duration_s = 10.0
    play_started_at = LazyFunction(timezone.now)
    plays = 1


class VoteFactory(ModelFactory[Vote]):
    """A vote on a stimulus; pass `item` to vote on an existing assignment item."""

    class Meta:
        model = Vote

    item = SubFactory(AssignmentItemFactory)
    experiment = SelfAttribute("item.assignment.experiment")
    assignment = SelfAttribute("item.assignment")
    rater = SelfAttribute("item.assignment.rater")
    phase = SelfAttribute("item.phase")
    stimulus = SelfAttribute("item.stimulus")
    trap = SelfAttribute("item.trap")
    gold = SelfAttribute("item.gold")
    score = 4
    play_started_at = LazyFunction(timezone.now)
    listened_s = 10.2


class StimulusMOSFactory(ModelFactory[StimulusMOS]):
    """An imported MOS label of a stimulus (Vinylset-style: MOS, CI half-width, class)."""

    class Meta:
        model = StimulusMOS

    stimulus = SubFactory(StimulusFactory)
    experiment = SelfAttribute("stimulus.experiment")
    source = "imported"
    mos = 3.0
    std = 0.8
    n = 15
    ci95_normal = 0.4
    mosgroup = ""
    computed_at = LazyFunction(timezone.now)


class ModelRunFactory(ModelFactory[ModelRun]):
    """A finished w2vMOS cross-validation with a summary (no folds, no files)."""

    class Meta:
        model = ModelRun

    experiment = SubFactory(ExperimentFactory)
    kind = "crossval"
    status = "succeeded"
    config = LazyFunction(
        lambda: {"backbone": "facebook/wav2vec2-base", "random_labels": False, "cv": {"k": 3}}
    )
    summary = LazyFunction(
        lambda: {
            m: {"mean": v, "std": 0.05}
            for m, v in (("rmse", 0.3), ("pcc", 0.5), ("srcc", 0.45), ("pra", 0.88))
        }
    )
    n_items = 620
    code_version = "test"
