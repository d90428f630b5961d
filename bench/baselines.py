"""Training time of the paper's baselines (ConvMaxPool and NISQA) on 10 s clips.

Measures, on one machine:
- the log-mel front end per clip (decode 44.1 kHz stereo, resample to 48 kHz, mel,
  segments): paid once per run, since training preloads every clip;
- a training step (forward, L1/L2 loss, backward, Adam) on a batch of the model's
  default size (ConvMaxPool 16, NISQA 40) of 10 s clips (247 segments each);
- the evaluation forward pass per clip (the validation part after every epoch).

and reports seconds per epoch for a fold of `--train-clips` training and `--val-clips`
validation clips (Vinylset's 620 recordings: 413 and 103 per fold):
ceil(train / batch) steps + val forward passes.

`--fold MODELS` measures whole folds instead of projecting them: it writes `--items`
synthetic 10 s records (`modeling.synth`, one fault of a random severity each, labelled
by a simulated crowd of honest raters, `modeling.crowd`), and trains fold 1 of the
product's 3-fold cross-validation (`run_crossval`) of each model to early stopping: the
clips' log-mel once, every epoch, validation, early stopping, the P.1401 mapping and the
test metrics. It reports the epochs run, seconds per epoch and the fold's wall time.

Steps run inside `modeling.heap.retained_heap()`, as training does; `--default-heap`
times them with the C library's default allocation instead.

    python -m bench baselines -- --steps 3
    python -m bench baselines -- --fold convmaxpool,nisqa
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench.scoring import _machine, _write_clips
from modeling import heap
from modeling.baselines.nets import NISQA, ConvMaxPool, MelModel
from modeling.baselines.store import MelFrontEnd
from modeling.crowd import SimulatedRater
from modeling.mos import Z_95, mos_classes
from modeling.synth import FAULTS, synth_track
from modeling.w2vmos.config import CVConfig, ModelConfig, train_config_for
from modeling.w2vmos.crossval import CVProgress, run_crossval
from modeling.w2vmos.data import ManifestItem
from modeling.w2vmos.runtime import autocast

CPU = torch.device("cpu")

MODELS: dict[str, Callable[[], MelModel]] = {"convmaxpool": ConvMaxPool, "nisqa": NISQA}


def _step_time(
    model: MelModel, name: str, segments: torch.Tensor, steps: int, precision: str
) -> float:
    config = train_config_for(name)
    batch = config.batch_size
    values = segments[torch.arange(batch) % segments.shape[0]]
    mask = torch.ones(values.shape[:2], dtype=torch.long)
    target = torch.linspace(1.5, 4.5, batch)
    optimizer = torch.optim.Adam(
        [
            {"params": model.backbone_parameters(), "lr": config.lr_backbone},
            {"params": model.head_parameters(), "lr": config.lr_head},
        ]
    )
    loss_fn = torch.nn.L1Loss() if config.loss == "l1" else torch.nn.MSELoss()
    model.train()
    times = []
    for step in range(steps + 1):  # the first step warms up and is not counted
        started = time.perf_counter()
        with autocast(CPU, precision):  # type: ignore[arg-type]
            pred = model(values, mask)
        loss = loss_fn(pred.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - started)
    return float(np.mean(times))


def _forward_time(model: MelModel, segments: torch.Tensor, precision: str) -> float:
    model.eval()
    mask = torch.ones(segments.shape[:2], dtype=torch.long)
    with torch.inference_mode(), autocast(CPU, precision):  # type: ignore[arg-type]
        model(segments[:1], mask[:1])  # warm-up
        started = time.perf_counter()
        model(segments, mask)
    return (time.perf_counter() - started) / segments.shape[0]


#: Models `--fold` can train: the ones that need no pre-training product.
FOLD_MODELS = ("convmaxpool", "nisqa", "nisqa_l1")


def _labelled_records(folder: Path, count: int, raters: int, seed: int) -> list[ManifestItem]:
    """`count` 10 s synthetic records, each with one fault (cycling through the faults) at
    a uniform random severity plus a little hiss and crackle, rated by `raters` honest
    simulated raters who hear 4.6 - 2.8 x severity, as the demo's crowd does."""
    rng = np.random.default_rng(seed)
    severities = rng.uniform(0.0, 1.0, count)
    mos, ci, paths = [], [], []
    for index, severity in enumerate(severities):
        faults = {"hiss": 0.1 * float(severity), "crackle": 0.1 * float(severity)}
        faults[FAULTS[index % len(FAULTS)]] = float(severity)
        path = folder / f"record_{index:04d}.flac"
        audio = synth_track(seconds=10.0, seed=int(rng.integers(2**31)), faults=faults)
        sf.write(path, audio, 44100, subtype="PCM_16")
        crowd = [SimulatedRater(bias=float(rng.normal(0.0, 0.3))) for _ in range(raters)]
        votes = np.array([r.rate(4.6 - 2.8 * float(severity), rng) for r in crowd], float)
        paths.append(path)
        mos.append(float(votes.mean()))
        ci.append(float(Z_95 * votes.std(ddof=1) / np.sqrt(raters)))
    # Vinylset's 15 quantile classes, fewer for small sets so that each fills 3 folds.
    classes = mos_classes(mos, min(15, count // 6), duplicates="drop")
    return [ManifestItem(p, m, c, k) for p, m, c, k in zip(paths, mos, ci, classes)]


class _EpochClock:
    """Prints each epoch as the fold reports it, with the seconds since the last."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.seconds: list[float] = []

    def __call__(self, progress: CVProgress) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self.last)
        self.last = now
        e = progress.epoch
        print(
            f"    epoch {e.epoch:3d}: train {e.train_loss:.3f}, validation {e.val_loss:.3f} "
            f"(best {e.best_val_loss:.3f} at {e.best_epoch}), {self.seconds[-1]:5.1f} s",
            flush=True,
        )


def _fold(
    models: list[str], items: list[ManifestItem], folder: Path, max_epochs: int, precision: str
) -> None:
    for name in models:
        settings = {"max_epochs": max_epochs or None, "precision": precision, "device": "cpu"}
        train = train_config_for(name, **settings)
        print(
            f"  {name}: fold 1 of 3, batch {train.batch_size}, patience {train.patience}, "
            f"{precision}; the first epoch includes the clips' log-mel",
            flush=True,
        )
        clock = _EpochClock()
        started = time.perf_counter()
        result = run_crossval(
            items,
            model_config=ModelConfig(name=name),  # type: ignore[arg-type]
            train_config=train,
            cv_config=CVConfig(k=3),
            run_dir=folder / name,
            progress=clock,
            folds=[0],
        )
        wall = time.perf_counter() - started
        fold = result.folds[0]
        print(
            f"  {name}: {fold.n_train} training, {fold.n_val} validation, {fold.n_test} test "
            f"clips; {fold.epochs_run} epochs (best {fold.best_epoch}, "
            f"{'stopped early' if fold.stopped_early else 'at the epoch limit'}), "
            f"{np.median(clock.seconds):.1f} s per epoch (median); "
            f"fold {wall / 60:.1f} min in all; test PCC {fold.metrics['pcc']:.3f}, "
            f"RMSE {fold.metrics['rmse']:.3f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench baselines", description=__doc__)
    parser.add_argument("--clips", type=int, default=8, help="clips decoded and timed")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per model")
    parser.add_argument("--train-clips", type=int, default=413)
    parser.add_argument("--val-clips", type=int, default=103)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--default-heap",
        action="store_true",
        help="time the steps without the retained heap that training uses",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="fp32 (training's default on CPU) or bf16 autocast, as `--precision bf16` trains",
    )
    parser.add_argument(
        "--fold",
        metavar="MODELS",
        help=f"train one whole fold of each of these models ({', '.join(FOLD_MODELS)}; "
        "comma-separated) instead of timing steps",
    )
    parser.add_argument("--items", type=int, default=620, help="records made for --fold")
    parser.add_argument("--raters", type=int, default=24, help="simulated votes per record")
    parser.add_argument(
        "--max-epochs", type=int, default=0, help="--fold's epoch limit (0: the model's)"
    )
    args = parser.parse_args(argv)
    models = [m.strip() for m in (args.fold or "").split(",") if m.strip()]
    unknown = sorted(set(models) - set(FOLD_MODELS))
    if unknown:
        parser.error(f"--fold: unknown models {', '.join(unknown)}; use {', '.join(FOLD_MODELS)}")
    if args.fold is not None and not models:
        parser.error("--fold needs at least one model")
    if args.items < 30 or args.raters < 2 or args.max_epochs < 0:
        parser.error("--items needs at least 30, --raters 2, --max-epochs 0 or more")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(_machine(torch.device("cpu")), flush=True)
    kept = not args.default_heap and heap.supported()
    print(f"  heap: {'retained (as training)' if kept else 'C library default'}", flush=True)

    if models:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            items = _labelled_records(Path(tmp), args.items, args.raters, seed=0)
            print(
                f"  {len(items)} labelled 10 s records written in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            _fold(models, items, Path(tmp), args.max_epochs, args.precision)
        return

    front_end = MelFrontEnd()
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_clips(Path(tmp), args.clips, 10.0, 44100)
        front_end(paths[0], max_seconds=10.0)  # the first call loads the resampler's code
        started = time.perf_counter()
        arrays = [front_end(p, max_seconds=10.0) for p in paths]
        mel_per_clip = (time.perf_counter() - started) / len(paths)
    segments = torch.from_numpy(np.stack([np.ascontiguousarray(a) for a in arrays]))
    clips = args.train_clips + args.val_clips
    print(
        f"  log-mel front end: {mel_per_clip * 1000:.0f} ms per 10 s clip "
        f"({segments.shape[1]} segments), {mel_per_clip * clips:.0f} s once for {clips} clips",
        flush=True,
    )
    for name, net in MODELS.items():
        model = net()
        batch = train_config_for(name).batch_size
        with heap.retained_heap() if kept else contextlib.nullcontext():
            step = _step_time(model, name, segments, args.steps, args.precision)
            forward = _forward_time(model, segments, args.precision)
        steps = math.ceil(args.train_clips / batch)
        epoch = steps * step + args.val_clips * forward
        print(
            f"  {name:<12} batch {batch:>2}: {step:6.2f} s per step, "
            f"{forward * 1000:5.0f} ms per clip scored; epoch of {args.train_clips} + "
            f"{args.val_clips} clips ≈ {epoch:6.1f} s ({steps} steps)",
            flush=True,
        )
