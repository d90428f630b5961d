"""The paper's Table 1 on the experiment's own labels: one cross-validation per model,
all over the same stratified folds (one seed, one k), queued together or not at all."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from crowdtest.corpus.models import Experiment
from modeling.w2vmos.config import MODEL_NAMES, PRETRAINED_FROM, pretraining_phrase

from ..errors import TrainingError
from ..models import ModelRun
from .runs import run_start

#: w2vMOS trained on the paper's random labels (Table 1, "w2vMOS Rand. Labels").
RANDOM_LABELS = "w2vmos_random"
COMPARABLE: tuple[str, ...] = (*MODEL_NAMES, RANDOM_LABELS)


def comparison_models(*, pretrained: dict[str, str]) -> list[str]:
    """Every model that can run: those that need no pre-training, and the pre-trained
    ConvMaxPools whose pre-training's product is given."""
    return [
        name
        for name in COMPARABLE
        if name not in PRETRAINED_FROM or pretrained.get(PRETRAINED_FROM[name])
    ]


def runs_compare(
    *,
    experiment: Experiment,
    models: list[str],
    pretrained: dict[str, str] | None = None,
    backbone: str | None = None,
    created_by: Any = None,
    **settings: Any,
) -> list[ModelRun]:
    """One cross-validation of each model, with the same folds, seed and settings
    (`run_start`'s: folds, max_epochs, patience, device, precision, seed); each model
    keeps its own batch size, learning rates and loss. `pretrained` maps a pre-training
    method (autoencoder, degradation, dcec) to its product folder. Every run is checked
    before any is queued: one refusal queues none."""
    products = {k: v for k, v in (pretrained or {}).items() if v}
    unknown = [m for m in models if m not in COMPARABLE]
    if unknown:
        raise TrainingError(
            f"Unknown model(s) {', '.join(unknown)}: choose from {', '.join(COMPARABLE)}."
        )
    if not models:
        raise TrainingError("Name at least one model to compare.")
    twice = sorted({m for m in models if models.count(m) > 1})
    if twice:
        raise TrainingError(f"Each model once: {', '.join(twice)} is named twice.")
    unused = sorted(
        method for method in products if method not in {PRETRAINED_FROM.get(m) for m in models}
    )
    if unused:
        raise TrainingError(
            f"No model asked for starts from the {' or '.join(unused)} product given: "
            f"add {', '.join(m for m in PRETRAINED_FROM if PRETRAINED_FROM[m] in unused)} to "
            "the models, or leave the product out."
        )
    missing = [m for m in models if m in PRETRAINED_FROM and PRETRAINED_FROM[m] not in products]
    if missing:
        raise TrainingError(
            "; ".join(
                f"{m} needs the product of {pretraining_phrase(PRETRAINED_FROM[m])} "
                f"(--{PRETRAINED_FROM[m]} OUT_DIR of pretrain_cnn {PRETRAINED_FROM[m]})"
                for m in missing
            )
            + "."
        )
    runs = []
    with transaction.atomic():  # the folds are queued on commit: all of them or none
        for name in models:
            model = "w2vmos" if name == RANDOM_LABELS else name
            try:
                runs.append(
                    run_start(
                        experiment=experiment,
                        model=model,
                        backbone=backbone if model == "w2vmos" else None,
                        random_labels=name == RANDOM_LABELS,
                        pretrained=products.get(PRETRAINED_FROM.get(model, "")),
                        created_by=created_by,
                        **settings,
                    )
                )
            except TrainingError as exc:
                reason = str(exc) if str(exc).endswith(".") else f"{exc}."
                raise TrainingError(f"{name}: {reason} Nothing was queued.") from exc
    return runs
