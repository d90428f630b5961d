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

Steps run inside `modeling.heap.retained_heap()`, as training does; `--default-heap`
times them with the C library's default allocation instead.

    python -m bench baselines -- --steps 3
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
import torch

from bench.scoring import _machine, _write_clips
from modeling import heap
from modeling.baselines.nets import NISQA, ConvMaxPool, MelModel
from modeling.baselines.store import MelFrontEnd
from modeling.w2vmos.config import train_config_for

MODELS: dict[str, Callable[[], MelModel]] = {"convmaxpool": ConvMaxPool, "nisqa": NISQA}


def _step_time(model: MelModel, name: str, segments: torch.Tensor, steps: int) -> float:
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
        loss = loss_fn(model(values, mask), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - started)
    return float(np.mean(times))


def _forward_time(model: MelModel, segments: torch.Tensor) -> float:
    model.eval()
    mask = torch.ones(segments.shape[:2], dtype=torch.long)
    with torch.inference_mode():
        model(segments[:1], mask[:1])  # warm-up
        started = time.perf_counter()
        model(segments, mask)
    return (time.perf_counter() - started) / segments.shape[0]


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
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(_machine(torch.device("cpu")), flush=True)
    kept = not args.default_heap and heap.supported()
    print(f"  heap: {'retained (as training)' if kept else 'C library default'}", flush=True)

    front_end = MelFrontEnd()
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_clips(Path(tmp), args.clips, 10.0, 44100)
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
            step = _step_time(model, name, segments, args.steps)
            forward = _forward_time(model, segments)
        steps = math.ceil(args.train_clips / batch)
        epoch = steps * step + args.val_clips * forward
        print(
            f"  {name:<12} batch {batch:>2}: {step:6.2f} s per step, "
            f"{forward * 1000:5.0f} ms per clip scored; epoch of {args.train_clips} + "
            f"{args.val_clips} clips ≈ {epoch:6.1f} s ({steps} steps)",
            flush=True,
        )
