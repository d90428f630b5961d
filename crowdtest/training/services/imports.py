"""Published fairseq wav2vec 2.0 checkpoints imported as model runs (`import_checkpoint`,
`modeling.w2vmos.fairseq_import`): a pre-trained one (the paper's checkpoint_best.pt)
becomes a backbone that `train_w2vmos --backbone` fine-tunes; fine-tuned ones (its
qama_fold1..3.pt) become one run, a fold per file, whose folds' mean scores an archive
with `predict_quality`, as the paper's predict script averages its fold models.

The conversion is CPU work of seconds per file, done in the calling process: each file is
read, converted and written into a temporary folder, one at a time (a base model with its
optimizer state is over a GB in memory); the folder takes its name and the run its row
only once every file converted."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from modeling.provenance import code_version
from modeling.w2vmos.errors import W2VMOSError

from ..errors import TrainingError
from ..models import ModelFold, ModelRun, model_runs_root

FOLDER = "imported"
_NAME = re.compile(r"[A-Za-z0-9][\w.+-]{0,99}")
Status = ModelRun.Status


def imported_folder(name: str) -> Path:
    return model_runs_root() / FOLDER / name


def _default_name(files: Sequence[Path]) -> str:
    stems = [f.stem for f in files]
    return stems[0] if len(stems) == 1 else f"{stems[0]}+{len(stems) - 1}"


def checkpoint_import(
    *,
    paths: Sequence[str | Path],
    name: str = "",
    pretrained: str | Path | None = None,
    trust_pickle: bool = False,
    created_by: Any = None,
) -> ModelRun:
    """Convert fairseq wav2vec 2.0 checkpoints into an imported run under
    MODEL_RUNS_ROOT/imported/NAME: `backbone/` for one pre-trained checkpoint, or
    `model-N/` (a saved w2vMOS) for each fine-tuned one. `pretrained` gives the model
    settings of bare state dicts (QAMA's files hold none)."""
    from modeling.w2vmos.fairseq_import import read_checkpoint

    files = [Path(p).expanduser().resolve() for p in paths]
    if not files:
        raise TrainingError("Give the fairseq checkpoint file(s) to import.")
    if len(set(files)) != len(files):
        raise TrainingError("A checkpoint is given twice.")
    name = name.strip() or _default_name(files)
    if not _NAME.fullmatch(name):
        raise TrainingError(
            f"{name!r} can't name an import: letters, digits and . _ + - only, up to 100."
        )
    out = imported_folder(name)
    if out.exists():
        raise TrainingError(f"An import named {name!r} exists already ({out}); give another name.")
    try:
        settings = read_checkpoint(pretrained, trust_pickle=trust_pickle) if pretrained else None
    except W2VMOSError as exc:
        raise TrainingError(str(exc)) from exc

    partial = out.with_name(f".{name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        sources = _convert_into(partial, files, settings, trust_pickle)
        (partial / "import.json").write_text(
            json.dumps(
                {"sources": sources, "code_version": code_version()}, indent=2, sort_keys=True
            )
            + "\n"
        )
        partial.rename(out)
    except (W2VMOSError, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise TrainingError(str(exc)) from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    fine_tuned = bool(sources[0]["has_head"])
    now = timezone.now()
    with transaction.atomic():
        run = ModelRun.objects.create(
            kind=ModelRun.Kind.IMPORTED,
            status=Status.SUCCEEDED,
            folder=str(out),
            config={
                "name": name,
                "backbone": "" if fine_tuned else str(out / "backbone"),
                "fine_tuned": fine_tuned,
                "settings_from": sources[0]["settings_from"],
                "normalize_waveform": sources[0]["normalize_waveform"],
                "sources": [s["file"] for s in sources],
            },
            summary={"sources": sources},
            n_items=len(sources),
            code_version=code_version(),
            created_by=created_by,
            started_at=now,
            finished_at=now,
        )
        if fine_tuned:
            ModelFold.objects.bulk_create(
                ModelFold(
                    run=run,
                    index=i,
                    status=Status.SUCCEEDED,
                    sent=True,
                    model_dir=str(out / f"model-{i + 1}"),
                    started_at=now,
                    finished_at=now,
                )
                for i in range(len(sources))
            )
    return run


def _convert_into(
    folder: Path, files: Sequence[Path], settings: Any, trust_pickle: bool
) -> list[dict[str, Any]]:
    from transformers import Wav2Vec2FeatureExtractor

    from modeling.w2vmos.fairseq_import import convert, read_checkpoint
    from modeling.w2vmos.model import save_model

    sources: list[dict[str, Any]] = []
    for i, file in enumerate(files):
        converted = convert(read_checkpoint(file, trust_pickle=trust_pickle), config_from=settings)
        fine_tuned = converted.head is not None
        if sources and fine_tuned != sources[0]["has_head"]:
            raise TrainingError(
                f"{files[0].name} and {file.name} are not the same kind (one is pre-trained, "
                "the other fine-tuned with a MOS head): import them separately."
            )
        if not fine_tuned and len(files) > 1:
            raise TrainingError(
                f"{file.name} is a pre-trained wav2vec 2.0 (no MOS head): import it on its own; "
                "only fine-tuned checkpoints are imported together, to score with their mean."
            )
        if fine_tuned:
            save_model(converted.to_w2vmos(), folder / f"model-{i + 1}")
        else:
            converted.backbone.save_pretrained(folder / "backbone")
            # The input normalisation it was pre-trained with, in transformers' own file.
            extractor = Wav2Vec2FeatureExtractor(  # type: ignore[no-untyped-call]
                do_normalize=converted.normalize_waveform, return_attention_mask=True
            )
            extractor.save_pretrained(folder / "backbone")
        sources.append({**converted.source, "normalize_waveform": converted.normalize_waveform})
        del converted
    return sources
