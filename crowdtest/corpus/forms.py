from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any

from django import forms

from .config import CHOICES, GROUPS, ExperimentSettings
from .selectors import experiment_slug_taken


class ExperimentCreateForm(forms.Form):
    slug = forms.SlugField(max_length=64, help_text="Lower-case letters, digits and -")
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_slug(self) -> str:
        slug = str(self.cleaned_data["slug"])
        if experiment_slug_taken(slug=slug):
            raise forms.ValidationError("An experiment with this slug exists already.")
        return slug


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class TrackUploadForm(forms.Form):
    files = MultipleFileField(  # type: ignore[assignment]
        help_text="Audio files (WAV, FLAC, MP3, M4A, OGG...)"
    )


class ClusterForm(forms.Form):
    algorithm = forms.ChoiceField(choices=[("kmeans", "K-Means"), ("hdbscan", "HDBSCAN")])
    k = forms.IntegerField(min_value=2, max_value=50, initial=5, help_text="K-Means only")
    seed = forms.IntegerField(initial=0)


def _field_for(name: str, annotation: Any, default: Any) -> forms.Field:
    optional = type(None) in typing.get_args(annotation)
    base = next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
    if name in CHOICES:
        return forms.ChoiceField(choices=[(c, c) for c in CHOICES[name]])
    if base is bool:
        return forms.BooleanField(required=False)
    if base is int:
        return forms.IntegerField(required=not optional)
    if base is float:
        return forms.FloatField(required=not optional)
    return forms.CharField(required=not optional, max_length=50)


class SettingsForm(forms.Form):
    """Every experiment setting, generated from ExperimentSettings: labelled with its unit
    and help, grouped as the settings declare, and checked all at once, each problem shown
    at its field. `current` are the experiment's settings the form's values change."""

    def __init__(self, *args: Any, current: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current = current or {}
        hints = typing.get_type_hints(ExperimentSettings)
        for f in fields(ExperimentSettings):
            info = ExperimentSettings.info(f.name)
            field = _field_for(f.name, hints[f.name], f.default)
            field.label = f"{info.label} ({info.unit})" if info.unit else info.label
            field.help_text = info.help
            self.fields[f.name] = field

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The bound fields under their groups, in the groups' order."""
        grouped: dict[str, list[forms.BoundField]] = {group: [] for group in GROUPS}
        for name, field in self.fields.items():
            bound = self[name]
            if bound.errors:  # announced with the field, for screen readers too
                described = [f"{bound.auto_id}_error"] + (
                    [f"{bound.auto_id}_helptext"] if field.help_text else []
                )
                field.widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": " ".join(described)}
                )
            grouped[ExperimentSettings.info(name).group].append(bound)
        return [(group, found) for group, found in grouped.items() if found]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Checked together, the current value standing in for a field that is already in
        # error, so every problem shows at once, each at its field.
        for name, message in ExperimentSettings.problems({**self.current, **cleaned}):
            if name not in self.errors:
                self.add_error(name or None, message)
        return cleaned


class VersionsForm(forms.Form):
    """Versions of one work and the references of processed versions, as CSV lines."""

    lines = forms.CharField(
        label="Versions",
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "track,work_id,reference"}),
        max_length=500_000,
        help_text="One line per track: its name (or file name), its work id, and the track "
        "it was processed from (blank for none).",
    )
