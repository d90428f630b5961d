from __future__ import annotations

from django import forms

from .models import ModelRun
from .services import DEFAULT_BACKBONE

DEVICES = [("auto", "auto (the GPU when there is one)"), ("cuda", "cuda"), ("cpu", "cpu")]


class RunStartForm(forms.Form):
    """A w2vMOS run with the paper's defaults (§4-5)."""

    kind = forms.ChoiceField(
        choices=[
            (ModelRun.Kind.CROSSVAL, "Cross-validation (the paper's evaluation)"),
            (ModelRun.Kind.FINAL, "Final model on every label (to score the archive)"),
        ],
        initial=ModelRun.Kind.CROSSVAL,
    )
    backbone = forms.CharField(
        max_length=500,
        initial=DEFAULT_BACKBONE,
        help_text="A wav2vec 2.0 checkpoint: hub id, or a folder on the gpu worker "
        "(e.g. a pretrain_wav2vec2 output)",
    )
    folds = forms.IntegerField(min_value=2, max_value=10, initial=3)
    max_epochs = forms.IntegerField(min_value=1, max_value=10_000, initial=200)
    patience = forms.IntegerField(
        min_value=1, max_value=1000, initial=20, help_text="Epochs without improvement"
    )
    random_labels = forms.BooleanField(
        required=False,
        help_text="The paper's control: Gaussian labels with the MOS mean and std",
    )
    device = forms.ChoiceField(choices=DEVICES, initial="auto")
    seed = forms.IntegerField(min_value=0, initial=0)


class ScoreForm(forms.Form):
    source = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Empty: every track of this experiment. Else a folder or manifest CSV "
        "on the gpu worker, inside the import roots.",
    )
    device = forms.ChoiceField(choices=DEVICES, initial="auto")
