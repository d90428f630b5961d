"""A test offered in English and German: `build_sessions` speaks every prompt in both
voices and makes each trap and digits clip in both, while sessions list one trap per
(source, answer) and the build counts it once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from django.utils import translation
from django.utils.translation import pgettext
from pytest_django import DjangoDbBlocker

from crowdtest.corpus.models import Experiment
from crowdtest.design.clips import PROMPT_RATE, read_prompt
from crowdtest.design.models import DigitsClip, Prompt, SessionItem, Trap
from tests.crowdtest.design.test_build_sessions import (
    BUILD_OUTPUT,
    BUILDS,
    SETTINGS,
    built_by_command,
)

pytestmark = BUILDS


@pytest.fixture(scope="module")
def built(
    django_db_setup: None,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Experiment]:
    folder = tmp_path_factory.mktemp("languages-corpus")
    settings = {**SETTINGS, "languages": "en,de", "training_size": 0}
    with django_db_blocker.unblock():
        yield from built_by_command(
            folder, slug="two-languages", settings=settings, seed=2, digits_clips=2
        )


def test_every_prompt_is_spoken_in_each_language(built: Experiment) -> None:
    prompts = {(p.key, p.language): p for p in Prompt.objects.filter(experiment=built)}
    assert Counter(language for _, language in prompts) == {"en": 14, "de": 14}
    with translation.override("de"):
        schlecht = pgettext("acr", "Bad").lower()
        drei = pgettext("digit", "three")
    assert schlecht != "bad" and drei != "three"
    assert prompts["trap-1", "de"].text.endswith(f"{schlecht}.")
    assert prompts["trap-1", "en"].text == "This is an interruption, please select the answer bad."
    assert prompts["digit-3", "de"].text == drei
    english = read_prompt(prompts["trap-1", "en"].audio, PROMPT_RATE)
    german = read_prompt(prompts["trap-1", "de"].audio, PROMPT_RATE)
    assert abs(english.size - german.size) > PROMPT_RATE // 10  # another sentence, not a copy


def test_each_trap_and_digits_clip_exists_in_each_language(built: Experiment) -> None:
    traps = list(Trap.objects.filter(experiment=built))
    sources = {t.source_id for t in traps}
    assert len(traps) == 5 * len(sources) * 2
    assert Counter((t.source_id, t.answer) for t in traps) == {
        (s, a): 2 for s in sources for a in range(1, 6)
    }
    for source in sources:  # one length per source: neither answer nor language shows
        assert len({t.duration_s for t in traps if t.source_id == source}) == 1
    digits = DigitsClip.objects.filter(experiment=built)
    by_language = {
        language: sorted(digits.filter(language=language).values_list("digits", flat=True))
        for language in ("en", "de")
    }
    assert by_language["en"] == by_language["de"] and len(by_language["en"]) == 2


def test_sessions_list_the_first_languages_traps_counted_once(built: Experiment) -> None:
    listed = SessionItem.objects.filter(session__experiment=built, trap__isnull=False)
    assert listed.exists()
    assert set(listed.values_list("trap__language", flat=True)) == {"en"}
    sources = Trap.objects.filter(experiment=built).values("source").distinct().count()
    assert f"{5 * sources} traps from {sources} sources" in BUILD_OUTPUT[built.pk]
