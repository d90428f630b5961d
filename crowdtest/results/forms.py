from __future__ import annotations

from django import forms

OVERRIDE_CHOICES = (("valid", "valid"), ("invalid", "invalid"), ("clear", "back to the rules"))


class OverrideForm(forms.Form):
    verdict = forms.ChoiceField(choices=OVERRIDE_CHOICES)
    note = forms.CharField(max_length=2000, widget=forms.TextInput(attrs={"size": 30}))

    def valid_value(self) -> bool | None:
        return {"valid": True, "invalid": False}.get(self.cleaned_data["verdict"])
