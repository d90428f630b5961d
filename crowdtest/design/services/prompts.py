"""The experimenter's recorded prompts: an upload replaces the spoken one (from the next
build), a reset lets the next build speak it again."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from crowdtest.corpus.models import Experiment, new_media_key
from modeling.prompts import PromptError, load_prompt

from .. import clips
from ..models import Prompt
from .checks import DesignError


def _prompt_language(experiment: Experiment, language: str | None) -> str:
    offered = experiment.config.language_codes
    if language is None:
        return offered[0]
    if language not in offered:
        raise DesignError(
            f"This test does not offer the language '{language}'; it offers "
            f"{', '.join(offered)} (the languages setting)."
        )
    return language


def prompt_upload(
    *, experiment: Experiment, key: str, upload: UploadedFile[bytes], language: str | None = None
) -> Prompt:
    """Use the experimenter's recording for a prompt (in one of the test's languages, by
    default its first) instead of the synthesised voice. It is used from the next build on."""
    if key not in clips.PROMPT_KEYS:
        raise DesignError(f"Unknown prompt '{key}'; known: {', '.join(clips.PROMPT_KEYS)}.")
    language = _prompt_language(experiment, language)
    suffix = Path(upload.name or "").suffix.lower()[:8]
    with tempfile.TemporaryDirectory(prefix="crowdtest-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            audio = load_prompt(path, clips.PROMPT_RATE)
        except PromptError as exc:
            raise DesignError(f"The recording can't be read: {exc}") from exc
        seconds = len(audio) / clips.PROMPT_RATE
        limit = clips.MAX_PROMPT_SECONDS[clips.prompt_kind(key)]
        if seconds > limit:
            raise DesignError(
                f"The recording lasts {seconds:.1f} s; a {clips.prompt_kind(key)} prompt may "
                f"last at most {limit:g} s."
            )
        if not np.any(np.abs(audio) > 1e-4):
            raise DesignError("The recording is silent.")
        name = clips.store(path, f"prompts/{experiment.pk}/{new_media_key()}{suffix}")
    with transaction.atomic():
        old = (
            Prompt.objects.select_for_update()
            .filter(experiment=experiment, key=key, language=language)
            .first()
        )
        old_name = (old.audio.name or "") if old else ""
        prompt, _ = Prompt.objects.update_or_create(
            experiment=experiment,
            key=key,
            language=language,
            defaults={
                "text": clips.prompt_text(key, language),
                "source": Prompt.Source.UPLOADED,
                "audio": name,
            },
        )
        transaction.on_commit(lambda: clips.delete_files([old_name]))
    return prompt


def prompt_reset(*, experiment: Experiment, key: str, language: str | None = None) -> None:
    """Drop a prompt (uploaded or synthesised): the next build speaks it again."""
    language = _prompt_language(experiment, language)
    with transaction.atomic():
        prompt = (
            Prompt.objects.select_for_update()
            .filter(experiment=experiment, key=key, language=language)
            .first()
        )
        if prompt is None:
            raise DesignError(f"There is no prompt '{key}' ({language}) to reset.")
        name = prompt.audio.name or ""
        prompt.delete()
        transaction.on_commit(lambda: clips.delete_files([name]))
