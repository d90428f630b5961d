"""The staff's form for direct links (the Sessions tab)."""

from __future__ import annotations

from django import forms


class LinksForm(forms.Form):
    participants = forms.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        help_text="blank: the open link (every new browser is a new rater)",
    )
    max_sessions = forms.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        help_text="sessions each participant link allows (1: one-off links); blank: the "
        "experiment's cap",
    )
