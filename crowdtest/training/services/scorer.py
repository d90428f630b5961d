"""A run's model loaded to score files here: on a GPU, length-sorted batches under
autocast; on a CPU, one clip per pass through the inference engine this machine measured
fastest among those that agree with fp32 (`modeling.w2vmos.engines`), chosen once per
machine and model architecture and cached beside the run folders, and used only when it
agrees with fp32 with every one of the run's models too (checked once per model's
weights). Each file's result names the engine that scored it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modeling.w2vmos.errors import W2VMOSError

from ..errors import TrainingError
from ..models import ModelRun, model_runs_root

if TYPE_CHECKING:
    from modeling.w2vmos.engines import Engine
    from modeling.w2vmos.quality_model import QualityModel
    from modeling.w2vmos.score import ScoreResult

PROBE_CLIPS = 3  # clips an engine is timed and checked on when a machine first chooses


@dataclass(frozen=True)
class FileScore:
    """The MOS of one file of a chunk (the mean over an imported run's models), or why not."""

    mos: float | None
    error: str = ""
    engine: str = ""


def engines_folder() -> Path:
    """This worker's engine choices and exported graphs (beside the run folders)."""
    return model_runs_root() / "engines"


@dataclass
class RunScorer:
    models: list[QualityModel]
    device: str
    engine: str  # "auto", an engine's name, or "batched" (the GPU path)
    max_seconds: float | None
    batch_size: int = 8
    num_workers: int = 2
    log: Callable[[str], None] | None = None
    _engines: list[Engine] = field(default_factory=list)
    _chosen: bool = False

    @property
    def on_cpu(self) -> bool:
        from modeling.w2vmos.runtime import resolve_device

        return resolve_device(self.device).type == "cpu" and self.engine != "batched"

    def _prepare_engines(self, probe: Sequence[Path]) -> None:
        from modeling.w2vmos.engines import REFERENCE, build_engine, choose_engine, engine_agrees
        from modeling.w2vmos.score import decode_clips

        name = self.engine
        clips = []
        if name == "auto":
            for _, _, values, _ in decode_clips(
                self.models[0], probe, max_seconds=self.max_seconds
            ):
                if values is not None:
                    clips.append(values)
                if len(clips) == PROBE_CLIPS:
                    break
        if name == "auto" and not clips:
            # Nothing readable to choose on: the reference scores (it will meet only
            # errors), and the next chunk chooses.
            self._engines = [build_engine(m, REFERENCE) for m in self.models]
            self._chosen = False
            return
        if name == "auto":
            choice = choose_engine(
                self.models[0],
                clips,
                cache=engines_folder() / "choices.json",
                workdir=engines_folder(),
                log=self.log,
            )
            name = choice.engine
            # Chosen on the first model; every model must agree with fp32 through it.
            for model in self.models:
                if not engine_agrees(
                    model,
                    name,
                    clips,
                    cache=engines_folder() / "agreements.json",
                    workdir=engines_folder(),
                ):
                    if self.log:
                        self.log(f"{name} strays from fp32 with one of the models: fp32 it is")
                    name = REFERENCE
                    break
        self._engines = [build_engine(m, name, workdir=engines_folder()) for m in self.models]
        self._chosen = True

    def score(
        self, paths: Sequence[Path], progress: Callable[[int, int], None] | None = None
    ) -> list[FileScore]:
        """One result per path, in order."""
        if self.on_cpu and not self._chosen:
            try:
                self._prepare_engines(paths)
            except W2VMOSError as exc:
                raise TrainingError(str(exc)) from exc
        sums: dict[int, float] = {}
        errors: dict[int, str] = {}
        engines: dict[int, str] = {}
        n = len(self.models)
        for k, model in enumerate(self.models):

            def report(done: int, total: int, k: int = k) -> None:
                if progress is not None:
                    progress((k * total + done) // n, total)

            for result in self._results(k, model, paths, report):
                if result.mos is None:
                    errors[result.index] = result.error or "unreadable audio"
                else:
                    sums[result.index] = sums.get(result.index, 0.0) + result.mos / n
                    engines[result.index] = result.engine
        return [
            FileScore(None, errors[i])
            if i in errors or i not in sums
            else FileScore(sums[i], "", engines[i])
            for i in range(len(paths))
        ]

    def _results(
        self,
        k: int,
        model: QualityModel,
        paths: Sequence[Path],
        report: Callable[[int, int], None],
    ) -> list[ScoreResult]:
        from modeling.w2vmos.score import score_files, score_files_cpu

        if self.on_cpu:
            return list(
                score_files_cpu(
                    self._engines[k], model, paths, max_seconds=self.max_seconds, progress=report
                )
            )
        batched = score_files(
            model,
            paths,
            batch_size=self.batch_size,
            device=self.device,
            max_seconds=self.max_seconds,
            num_workers=self.num_workers,
            progress=report,
        )
        return [replace(r, engine=f"batched-{self.precision}") for r in batched]

    @property
    def precision(self) -> str:
        from modeling.w2vmos.runtime import resolve_device, resolve_precision

        return resolve_precision("auto", resolve_device(self.device))


def run_scorer(
    *,
    run: ModelRun,
    device: str = "auto",
    engine: str = "auto",
    batch_size: int = 8,
    num_workers: int = 2,
    log: Callable[[str], None] | None = None,
) -> RunScorer:
    """The run's scoring model(s) loaded here: refused when its folder is on another
    machine or its files are damaged."""
    from modeling.w2vmos.engines import ENGINES
    from modeling.w2vmos.kinds import is_saved_model, load_quality_model

    from .scoring import scoring_fold, scoring_folds

    if engine not in ("auto", "batched", *ENGINES):
        raise TrainingError(f"engine must be auto, batched or one of {', '.join(ENGINES)}.")
    folds = scoring_folds(run)
    first = Path(scoring_fold(run).model_dir)
    if not is_saved_model(first):
        raise TrainingError(
            f"The model of run {run.pk} is not on this machine ({first}): score where "
            "its run folder is (the gpu worker)."
        )
    try:
        models = [load_quality_model(f.model_dir) for f in folds]
    except W2VMOSError as exc:
        raise TrainingError(str(exc)) from exc
    max_seconds = run.config.get("train", {}).get("max_seconds", 10.0)
    return RunScorer(models, device, engine, max_seconds, batch_size, num_workers, log)
