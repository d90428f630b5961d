from __future__ import annotations

from typing import Any

from django import forms

from modeling.w2vmos.config import MODEL_NAMES, PRETRAINED_FROM, TABLE_NAMES, pretraining_phrase

from .models import ModelRun
from .services import DEFAULT_BACKBONE

DEVICES = [("auto", "auto (the GPU when there is one)"), ("cuda", "cuda"), ("cpu", "cpu")]


class RunStartForm(forms.Form):
    """A run of w2vMOS or one of the paper's baselines, with the paper's defaults (§4-5)."""

    kind = forms.ChoiceField(
        choices=[
            (ModelRun.Kind.CROSSVAL, "Cross-validation (the paper's evaluation)"),
            (ModelRun.Kind.FINAL, "Final model on every label (to score the archive)"),
        ],
        initial=ModelRun.Kind.CROSSVAL,
    )
    model = forms.ChoiceField(
        choices=[(name, TABLE_NAMES[name]) for name in MODEL_NAMES],
        initial="w2vmos",
        help_text="The baselines of the paper's Table 1 train on log-mel input with their "
        "own batch size, learning rates and loss",
    )
    backbone = forms.CharField(
        max_length=500,
        required=False,
        initial=DEFAULT_BACKBONE,
        help_text="w2vMOS only. A wav2vec 2.0 checkpoint: hub id, or a folder on the gpu "
        "worker (e.g. a pretrain_wav2vec2 output)",
    )
    pretrained = forms.CharField(
        max_length=1000,
        required=False,
        help_text="The pre-trained ConvMaxPools only: the output folder of the pretrain_cnn "
        "run on the gpu worker (Autoencoder: autoencoder; Degr. Class.: degradation; DCEC "
        "and DCEC MTL: dcec)",
    )
    folds = forms.IntegerField(min_value=2, max_value=10, initial=3)
    max_epochs = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        help_text="Empty: the model's own (NISQA 500, every other 200)",
    )
    patience = forms.IntegerField(
        min_value=1, max_value=1000, initial=20, help_text="Epochs without improvement"
    )
    random_labels = forms.BooleanField(
        required=False,
        help_text="The paper's control: Gaussian labels with the MOS mean and std",
    )
    device = forms.ChoiceField(choices=DEVICES, initial="auto")
    seed = forms.IntegerField(min_value=0, initial=0)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        backbone = (data.get("backbone") or "").strip()
        if data.get("model", "w2vmos") != "w2vmos":
            # The pre-filled default is not a choice the experimenter made.
            data["backbone"] = None if backbone in ("", DEFAULT_BACKBONE) else backbone
        elif not backbone:
            self.add_error("backbone", "w2vMOS needs a wav2vec 2.0 backbone.")
        pretrained = (data.get("pretrained") or "").strip()
        data["pretrained"] = pretrained or None
        if data.get("model") in PRETRAINED_FROM and not pretrained:
            method = PRETRAINED_FROM[data["model"]]
            self.add_error(
                "pretrained",
                f"{TABLE_NAMES[data['model']]} starts from {pretraining_phrase(method)}: give "
                "its output folder.",
            )
        return data


class ScoreForm(forms.Form):
    source = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Empty: every track of this experiment. Else a folder or manifest CSV "
        "on the gpu worker, inside the import roots.",
    )
    device = forms.ChoiceField(choices=DEVICES, initial="auto")
