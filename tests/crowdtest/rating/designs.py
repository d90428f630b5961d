"""Small designs built with the real design service on factory stimuli, and a client
that talks to the rater API like the page does. Audio is a placeholder unless a test
asks for real, playable clips."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.test import Client

from crowdtest.corpus.models import Experiment, Stimulus, new_media_key
from crowdtest.design.models import DigitsClip, GoldClip, Trap
from crowdtest.design.services import design_numbers, design_replace
from crowdtest.rating.clip_urls import clip_url
from crowdtest.rating.identity import RaterIdentity, rater_token
from crowdtest.rating.models import Assignment, AssignmentItem
from tests.factories import ExperimentFactory, StimulusFactory

PLACEHOLDER = b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 200


def real_clip(seconds: float, seed: int = 0) -> bytes:
    """A playable AAC clip of synthetic music (16 kHz, so it encodes fast)."""
    from modeling.audio.encode import encode_delivery
    from modeling.synth import synth_track

    audio = synth_track(seconds=seconds, sample_rate=16000, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.m4a"
        encode_delivery(audio, 16000, path, "64k")
        return path.read_bytes()


def stored(content: bytes, experiment: Experiment) -> str:
    return default_storage.save(
        f"stimuli/{experiment.pk}/{new_media_key()}.m4a", ContentFile(content)
    )


@dataclass
class Built:
    experiment: Experiment
    rated: list[Stimulus]
    sources: list[Stimulus]
    digits: list[str] = field(default_factory=list)


def make_design(
    *,
    n_clusters: int = 3,
    size: int = 4,
    per_cluster: int = 2,
    votes: int = 3,
    training: int = 3,
    trap_sources: int = 1,
    traps_per_session: int = 1,
    digits: tuple[str, ...] = ("427", "58"),
    duration_s: float = 0.2,
    audio: bytes = PLACEHOLDER,
    settings: dict[str, Any] | None = None,
    languages: tuple[str, ...] = ("en",),
    gold: bool = False,
) -> Built:
    """A design on placeholder audio; traps and digits clips in each of `languages`;
    with `gold`, one gold clip known to be Bad (score 1) from each trap source."""
    experiment = ExperimentFactory(
        settings={
            "languages": ",".join(languages),
            "n_clusters": n_clusters,
            "stimuli_per_cluster": per_cluster,
            "training_size": training,
            "votes_per_stimulus": votes,
            "trap_sources": trap_sources,
            "traps_per_session": traps_per_session,
            **(settings or {}),
        }
    )
    name = stored(audio, experiment)
    rated = [
        StimulusFactory(
            track__experiment=experiment,
            cluster=cluster,
            duration_s=duration_s,
            delivery=name,
            master=name,
        )
        for cluster in range(n_clusters)
        for _ in range(size)
    ]
    sources = [
        StimulusFactory(
            track__experiment=experiment,
            cluster=0,
            role=Stimulus.Role.UNUSED,
            duration_s=duration_s,
            delivery=name,
            master=name,
        )
        for _ in range(trap_sources)
    ]
    traps = [
        Trap(
            experiment=experiment,
            source=source,
            answer=answer,
            language=language,
            delivery=stored(audio, experiment),
            duration_s=duration_s,
        )
        for language in languages
        for source in sources
        for answer in range(1, 6)
    ]
    gold_clips = [
        GoldClip(
            experiment=experiment,
            source=source,
            answer=1,
            delivery=stored(audio, experiment),
            duration_s=duration_s,
        )
        for source in (sources if gold else [])
    ]
    clips = [
        DigitsClip(
            experiment=experiment,
            digits=value,
            channels="LR" + "L" * (len(value) - 2),
            language=language,
            delivery=stored(audio, experiment),
            duration_s=duration_s,
        )
        for language in languages
        for value in digits
    ]
    design_replace(
        experiment=experiment,
        numbers=design_numbers(experiment=experiment),
        trap_source_ids=[s.pk for s in sources],
        traps=traps,
        gold_clips=gold_clips,
        digit_clips=clips,
        volume_name=stored(audio, experiment),
    )
    return Built(experiment=experiment, rated=rated, sources=sources, digits=list(digits))


class RaterClient:
    """One rater talking to the JSON API with their signed token, like the page."""

    def __init__(
        self,
        client: Client,
        experiment: Experiment,
        external_id: str = "participant-1",
        platform: str = "link",
        language: str = "",
        **identity: str,
    ) -> None:
        self.client = client
        # The page sends its language with every call, as Accept-Language.
        self.headers = {"Accept-Language": language} if language else {}
        self.experiment = experiment
        self.identity = RaterIdentity(experiment.pk, platform, external_id, **identity)
        self.token = rater_token(self.identity)
        self.responses: list[Any] = []

    def get(self, path: str) -> Any:
        response = self.client.get(
            f"/api/{path}", headers=self.headers, HTTP_X_RATER_TOKEN=self.token
        )
        self.responses.append(response)
        return response

    def fetch_clip(self, key: str) -> Any:
        """Download a clip's audio through its signed URL, all of it, as the player does."""
        response = self.client.get(clip_url(key))
        if isinstance(response, StreamingHttpResponse):
            response.getvalue()
        return response

    def post(
        self, path: str, body: Any = None, raw: bytes | None = None, *, fetch: bool = True
    ) -> Any:
        """A POST to the API. Before a `play`, the clip's audio is downloaded as the page's
        player does (`fetch=False`: a client that skips it)."""
        if (
            path == "play"
            and fetch
            and isinstance(body, dict)
            and isinstance(body.get("clip"), str)
        ):
            self.fetch_clip(body["clip"])
        data = raw if raw is not None else (b"" if body is None else json.dumps(body))
        response = self.client.post(
            f"/api/{path}",
            data=data,
            content_type="application/json",
            headers=self.headers,
            HTTP_X_RATER_TOKEN=self.token,
        )
        self.responses.append(response)
        return response

    def state(self) -> dict[str, Any]:
        response = self.get("state")
        assert response.status_code == 200, response.content
        return dict(response.json())


def assignment_of(rc: RaterClient) -> Assignment:
    from crowdtest.rating.selectors import current_assignment

    assignment = current_assignment(identity=rc.identity)
    assert assignment is not None
    return assignment


def digits_of(rc: RaterClient) -> str:
    """The digits of the rater's setup clip, as an honest rater hears them."""
    clip = assignment_of(rc).digits_clip
    assert clip is not None
    return clip.digits


def to_rating(rc: RaterClient) -> dict[str, Any]:
    """Consent, setup and questions answered and the training clips rated, as an honest
    rater; returns the state at the rating stage."""
    state: dict[str, Any] = rc.post("consent").json()
    digits = digits_of(rc)
    state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits}).json()
    body = {"math": assignment_of(rc).math_answer, "hearing_normal": True, "headphones": True}
    state = rc.post("questions", body).json()
    while state["stage"] == "training":
        for clip in state["clips"]:
            if not clip["rated"]:
                rc.post("play", {"clip": clip["clip"]})
                assert rc.post("rate", {"clip": clip["clip"], "score": 3}).status_code == 200
        state = rc.state()
    assert state["stage"] == "rating", state["stage"]
    return state


def take_session(
    rc: RaterClient, score: int | Callable[[AssignmentItem], int] = 4
) -> dict[str, Any]:
    """Take a whole session through the API: the digits and the math answer are looked
    up server-side, traps get the answer they ask for. `score` is every other answer, or
    a function of the item giving it (then gold clips get it too, not their known score).
    With no session left for the rater, the refusal's JSON comes back."""
    state = rc.state()
    if state["stage"] in ("consent", "expired") or state.get("finish", {}).get("another"):
        response = rc.post("consent")
        if response.status_code != 200:
            return dict(response.json())
        state = response.json()
    if state["stage"] == "setup":
        digits = digits_of(rc)
        state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits}).json()
    if state["stage"] == "questions":
        math = assignment_of(rc).math_answer
        body = {"math": math, "hearing_normal": True, "headphones": True}
        state = rc.post("questions", body).json()
    while state["stage"] in ("training", "rating"):
        for clip in state["clips"]:
            if clip["rated"]:
                continue
            assert rc.post("play", {"clip": clip["clip"]}).status_code == 200
            item = AssignmentItem.objects.select_related("trap", "gold", "stimulus").get(
                clip_key=clip["clip"]
            )
            if item.trap is not None:
                answer = item.trap.answer
            elif item.gold is not None and isinstance(score, int):
                answer = item.gold.answer
            elif isinstance(score, int):
                answer = score
            else:
                answer = score(item)
            response = rc.post("rate", {"clip": clip["clip"], "score": answer})
            assert response.status_code == 200, response.content
        state = rc.state()
        if state["stage"] == "rating" and all(c["rated"] for c in state["clips"]):
            state = rc.post("finish").json()
    return state


def browser_design(languages: tuple[str, ...] = ("en",)) -> Built:
    """The smallest whole test for a browser to take: 2 clusters x 1 stimulus per
    session and a trap, 1 training clip, one digits clip, real 1 s audio."""
    return make_design(
        languages=languages,
        n_clusters=2,
        size=2,
        per_cluster=1,
        votes=1,
        training=1,
        trap_sources=1,
        digits=("37",),
        duration_s=1.0,
        audio=real_clip(1.0),
    )
