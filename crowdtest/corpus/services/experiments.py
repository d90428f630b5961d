"""Creating experiments and changing their settings."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from ..config import ExperimentSettings, SettingsError
from ..errors import CorpusError
from ..models import Experiment, Stimulus
from ..signals import design_settings_lock_reason, test_method_lock_reason


def experiment_create(
    *,
    slug: str,
    name: str,
    description: str = "",
    settings: dict[str, Any] | None = None,
    created_by: Any = None,
) -> Experiment:
    from django.core.exceptions import ValidationError

    try:
        resolved = ExperimentSettings.from_dict(settings)
    except SettingsError as exc:
        raise CorpusError(f"Invalid settings: {exc}") from exc
    experiment = Experiment(
        slug=slug,
        name=name,
        description=description,
        settings=resolved.to_dict(),
        created_by=created_by,
    )
    try:
        experiment.full_clean()
    except ValidationError as exc:
        messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise CorpusError(messages) from exc
    try:
        with transaction.atomic():
            experiment.save()
    except IntegrityError as exc:
        raise CorpusError(f"An experiment with the slug '{slug}' already exists.") from exc
    return experiment


# The settings a design is built with: the clusters, the sessions, their traps and gold
# clips, and the languages spoken. Once its data are collected they describe them.
DESIGN_KEYS = {
    "n_clusters",
    "clustering_algorithm",
    "seed",
    "stimuli_per_cluster",
    "comparisons_per_session",
    "training_size",
    "votes_per_stimulus",
    "trap_sources",
    "traps_per_session",
    "gold_made",
    "gold_per_session",
    "languages",
}


def experiment_update_settings(*, experiment: Experiment, changes: dict[str, Any]) -> Experiment:
    """Change settings; those that shaped existing stimuli or sessions are frozen, and
    those a design was built with once votes are collected on it."""
    current = experiment.config
    try:
        updated = current.replace(**changes)
    except SettingsError as exc:
        raise CorpusError(f"Invalid settings: {exc}") from exc
    stimulus_keys = {"excerpt_seconds", "target_lufs", "max_true_peak_db", "delivery_bitrate_kbps"}
    changed = {k for k in changes if getattr(current, k) != getattr(updated, k)}
    if changed & stimulus_keys and experiment.stimuli.filter(status=Stimulus.Status.READY).exists():
        raise CorpusError(
            "Stimuli have already been prepared with the current "
            f"{', '.join(sorted(changed & stimulus_keys))}; create a new experiment to change them."
        )
    if changed & DESIGN_KEYS:
        locked = design_settings_lock_reason(experiment=experiment)
        if locked:
            raise CorpusError(
                f"{locked}: they were collected with the current "
                f"{', '.join(sorted(changed & DESIGN_KEYS))}; create a new experiment to "
                "change them."
            )
    if "test_method" in changed:
        locked = test_method_lock_reason(experiment=experiment)
        if locked:
            raise CorpusError(
                f"{locked} ({current.test_method}); create a new experiment to run a "
                f"{updated.test_method} test on these tracks."
            )
    experiment.settings = updated.to_dict()
    experiment.save(update_fields=["settings"])
    return experiment
