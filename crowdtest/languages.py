"""The languages a test speaks to its raters: the page, its script, the API's messages and
the spoken prompts (espeak-ng voices).

`settings.LANGUAGES` lists the languages there are translations for; an experiment's
`languages` setting picks the ones its test offers, the first being its default. A rater
gets the language they chose on the page (`?lang=`), else the best of their browser's
languages (`Accept-Language`) among those offered, else the test's first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

DEFAULT = "en"
# espeak-ng's voice for each language (`espeak-ng --voices`).
VOICES = {"en": "en-us", "de": "de", "fr": "fr-fr", "es": "es"}
# The paths whose answers a rater reads: the test page and its API.
RATER_PATHS = ("/take/", "/api/")


def supported() -> tuple[str, ...]:
    return tuple(code for code, _ in settings.LANGUAGES)


def names() -> dict[str, str]:
    return dict(settings.LANGUAGES)


def voice(language: str) -> str:
    return VOICES.get(language, VOICES[DEFAULT])


def choose(offered: Sequence[str], asked: str | None, accept_language: str) -> str:
    """The language to answer in, among `offered` (never empty)."""
    if asked and asked in offered:
        return asked
    for code, _quality in parse_accept_lang_header(accept_language or ""):
        code = code.lower()
        for candidate in (code, code.split("-")[0]):
            if candidate in offered:
                return candidate
    return offered[0]


class RaterLanguageMiddleware:
    """Answers on the rater's paths in the language the page asks for. The page sends its
    language as `Accept-Language` on every API call; the entry page takes `?lang=` too.
    Staff pages are left in the default language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(RATER_PATHS):
            return self.get_response(request)
        language = choose(
            supported(), request.GET.get("lang"), request.headers.get("Accept-Language", "")
        )
        with translation.override(language):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
