from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings

from crowdtest.corpus.config import MAX_SEED

from .clips import PROMPT_KEYS, prompt_text


class BuildForm(forms.Form):
    votes_per_stimulus = forms.IntegerField(
        min_value=1, max_value=1000, required=False, help_text="blank: the experiment's setting"
    )
    seed = forms.IntegerField(
        min_value=0, max_value=MAX_SEED, required=False, help_text="blank: the experiment's"
    )


class PromptUploadForm(forms.Form):
    key = forms.ChoiceField(
        label="Prompt", choices=[(key, f"{key}: “{prompt_text(key)}”") for key in PROMPT_KEYS]
    )
    language = forms.ChoiceField(required=False, help_text="blank: the test's first language")
    audio = forms.FileField(help_text="A recording (WAV, FLAC, MP3, M4A...) of the text")

    def __init__(self, *args: Any, languages: Sequence[str] = ("en",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = dict(settings.LANGUAGES)
        field = self.fields["language"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "")] + [(code, names.get(code, code)) for code in languages]
