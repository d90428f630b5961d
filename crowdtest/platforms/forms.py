from __future__ import annotations

from django import forms

from crowdtest.corpus.config import CHOICES


class PlatformChoiceForm(forms.Form):
    platform = forms.ChoiceField(
        choices=[(p, p) for p in CHOICES["platform"]],
        help_text="Where this experiment's sessions are offered (its `platform` setting).",
    )
