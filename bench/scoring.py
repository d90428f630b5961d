"""w2vMOS scoring throughput and training step time on a wav2vec2-base-sized model.

Scoring: N synthetic clips (default 8 x 10 s, 44.1 kHz stereo like the stimuli) scored
by `score_files` (length-bucketed batches, DataLoader decoding workers, inference_mode,
autocast on GPU) and by `score_one_at_a_time` (decode, then one fp32 forward per file),
same machine, same randomly initialised model (Wav2Vec2Config() defaults: 12 layers,
768 hidden; no download). Throughput is seconds of audio per second of wall time; the
two paths' predictions must agree within a tolerance, which is checked and printed.

Training: time per optimizer step (batch 4 x 10 s, L1 loss, Adam with the paper's two
parameter groups), on CPU and, when there is one, on the GPU (bf16 autocast).

    python -m bench scoring -- --clips 8 --batch-size 8 --workers 1 --train-steps 1

CPU engines (`--engines`): the CPU scoring path, one clip per pass, through each engine of
`modeling.w2vmos.engines` side by side with the one-file fp32 path, with their agreement
(max and mean absolute MOS difference, PCC). The random-init model's scores spread little,
so the PCC says less than it would on a trained model; the absolute differences hold.

On a CPU, batching brings little: wav2vec 2.0's matrix products are already large for
one 10 s clip, and bf16 autocast is much slower on CPUs without native bf16 (try
`--cpu-bf16`). The batched path pays off on a GPU, where one clip leaves it idle.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from modeling import heap
from modeling.w2vmos.config import ModelConfig
from modeling.w2vmos.engines import agreement, build_engine
from modeling.w2vmos.model import W2VMOS, build_model
from modeling.w2vmos.runtime import autocast, resolve_device, resolve_precision
from modeling.w2vmos.score import (
    ScoreResult,
    score_files,
    score_files_cpu,
    score_one_at_a_time,
)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none used"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"load average {load}; "
        f"CPU {_cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"GPU {gpu}; torch {torch.__version__}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )


def _write_clips(folder: Path, count: int, seconds: float, rate: int) -> list[Path]:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    paths = []
    for i in range(count):
        tone = sum(
            np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate(rng.uniform(80, 900, 4))
        )
        left = 0.2 * tone / 2.5 + 0.01 * (i % 5) * rng.standard_normal(t.size)
        right = np.roll(left, 37)
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, np.stack([left, right], 1).astype(np.float32), rate)
        paths.append(path)
    return paths


def _timed(
    label: str, run: Callable[[], list[ScoreResult]], seconds_of_audio: float
) -> tuple[list[ScoreResult], float]:
    started = time.perf_counter()
    results = run()
    wall = time.perf_counter() - started
    print(f"  {label:<44} {wall:7.2f} s  {seconds_of_audio / wall:7.1f} s audio/s", flush=True)
    return results, wall


def _max_diff(a: list[ScoreResult], b: list[ScoreResult]) -> float:
    ma = {r.index: r.mos for r in a}
    return max(abs(float(ma[r.index] or 0.0) - float(r.mos or 0.0)) for r in b)


@heap.retained_heap()  # as train_model
def _train_step_time(model: W2VMOS, device: torch.device, steps: int, seconds: float) -> float:
    precision = resolve_precision("auto", device)
    model.to(device).train()
    optimizer = torch.optim.Adam(
        [
            {"params": model.backbone_parameters(), "lr": 1e-5},
            {"params": model.head_parameters(), "lr": 1e-4},
        ]
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    values = torch.randn(4, int(seconds * 16000), device=device) * 0.1
    mask = torch.ones_like(values, dtype=torch.long)
    target = torch.full((4,), 3.8, device=device)
    times = []
    for step in range(steps + 1):  # the first step warms up and is not counted
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        with autocast(device, precision):
            pred = model(values, mask)
        loss = torch.nn.functional.l1_loss(pred.float(), target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step:
            times.append(time.perf_counter() - started)
    model.eval()
    return float(np.mean(times))


def _compare_engines(
    model: W2VMOS,
    paths: list[Path],
    args: argparse.Namespace,
    naive_run: Callable[[], list[ScoreResult]],
    audio: float,
    workdir: Path,
) -> None:
    """The CPU scoring path (`score_files_cpu`) through each engine, same clips, against
    the one-file fp32 path: speed-up and agreement (max and mean |dMOS|, PCC). Each round
    times the one-file path and then every engine, and an engine's speed-up is taken
    against the one-file run of its own round: load from other processes drifts, and a
    ratio of runs seconds apart drifts least. The median over `--repeats` rounds is the
    figure; the lowest shows how far the load moved it."""
    engines = {}
    for name in args.engines.split(","):
        started = time.perf_counter()
        engine = build_engine(model, name, workdir=workdir)
        engine.score(np.zeros(16000, dtype=np.float32))  # warm-up (compiles, plans)
        engines[name] = (engine, time.perf_counter() - started)
    ratios: dict[str, list[float]] = {name: [] for name in engines}
    scored: dict[str, list[ScoreResult]] = {}
    reference: list[float] = []
    for round_ in range(args.repeats):
        naive, naive_wall = _timed(
            f"round {round_ + 1}: one file at a time, fp32", naive_run, audio
        )
        reference = [float(r.mos or 0.0) for r in naive]
        for name, (engine, _build) in engines.items():
            scored[name], wall = _timed(
                f"round {round_ + 1}: CPU path, engine {name}",
                lambda engine=engine: list(  # type: ignore[misc]
                    score_files_cpu(engine, model, paths, max_seconds=args.seconds)
                ),
                audio,
            )
            ratios[name].append(naive_wall / wall)
        print(f"    load {os.getloadavg()[0]:.2f}", flush=True)
    for name, (_engine, build) in engines.items():
        agree = agreement(reference, [float(r.mos or 0.0) for r in scored[name]])
        pcc = "n/a" if agree.pcc is None else f"{agree.pcc:.4f}"
        print(
            f"  {name:<14} speed-up vs one-file fp32: median {np.median(ratios[name]):.2f}x, "
            f"lowest {min(ratios[name]):.2f}x over {len(ratios[name])} rounds; "
            f"|dMOS| max {agree.max_abs:.4f} mean {agree.mean_abs:.4f}, PCC {pcc}; "
            f"build+warm-up {build:.1f} s",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scoring", description=__doc__)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--train-steps", type=int, default=1, help="0 skips training")
    parser.add_argument("--cpu-bf16", action="store_true", help="also try bf16 autocast on CPU")
    parser.add_argument("--tolerance", type=float, default=0.05, help="MOS, autocast runs")
    parser.add_argument("--repeats", type=int, default=1, help="alternating timed runs")
    parser.add_argument(
        "--engines",
        default="torch-fp32,torch-int8,torch-bf16,onnx-fp32,onnx-int8",
        help="CPU engines scored side by side with the one-file fp32 path ('' skips; "
        "add torch-compile to try it: minutes of compilation)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    precision = resolve_precision("auto", device)

    print(_machine(device))
    torch.manual_seed(0)
    model = build_model(ModelConfig(tiny_config={})).eval()  # Wav2Vec2Config() = base
    params = sum(p.numel() for p in model.parameters()) / 1e6
    audio = args.clips * args.seconds
    print(
        f"model: wav2vec2-base sized, {params:.1f} M parameters, random init; "
        f"{args.clips} clips x {args.seconds:g} s at {args.sample_rate} Hz stereo; "
        f"device {device}, batched precision {precision}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        paths = _write_clips(Path(tmp), args.clips, args.seconds, args.sample_rate)
        # One-time costs (allocator, kernel selection, lazy imports) are not measured.
        list(score_files(model, paths[:1], device=str(device), num_workers=0))
        score_one_at_a_time(model, paths[:1], device=str(device))

        def naive_run() -> list[ScoreResult]:
            return score_one_at_a_time(model, paths, device=str(device), max_seconds=args.seconds)

        def batched_run() -> list[ScoreResult]:
            return list(
                score_files(
                    model,
                    paths,
                    batch_size=args.batch_size,
                    device=str(device),
                    precision=precision,
                    max_seconds=args.seconds,
                    num_workers=args.workers,
                )
            )

        # Alternate the two paths so that load from other processes hits both alike.
        naive_walls, batched_walls = [], []
        for _ in range(args.repeats):
            naive, wall = _timed("one file at a time, fp32", naive_run, audio)
            naive_walls.append(wall)
            label = f"batched (bs {args.batch_size}, {args.workers} workers, {precision})"
            batched, wall = _timed(label, batched_run, audio)
            batched_walls.append(wall)
        naive_wall, batched_wall = float(np.median(naive_walls)), float(np.median(batched_walls))
        print(
            f"  median over {args.repeats}: one at a time {audio / naive_wall:.2f} s audio/s, "
            f"batched {audio / batched_wall:.2f} s audio/s"
        )
        diff = _max_diff(naive, batched)
        tolerance = 1e-3 if precision == "fp32" else args.tolerance
        verdict = "OK" if diff <= tolerance else "TOO LARGE"
        print(
            f"  speedup {naive_wall / batched_wall:.2f}x; max |MOS difference| {diff:.2e} "
            f"(tolerance {tolerance:g}: {verdict})"
        )
        if args.engines and device.type == "cpu":
            _compare_engines(model, paths, args, naive_run, audio, Path(tmp))
        if args.cpu_bf16 and device.type == "cpu":
            bf16, bf16_wall = _timed(
                f"batched, CPU bf16 autocast (bs {args.batch_size})",
                lambda: list(
                    score_files(
                        model,
                        paths,
                        batch_size=args.batch_size,
                        device="cpu",
                        precision="bf16",
                        max_seconds=args.seconds,
                        num_workers=args.workers,
                    )
                ),
                audio,
            )
            print(
                f"  bf16 speedup {naive_wall / bf16_wall:.2f}x; max |MOS difference| "
                f"{_max_diff(naive, bf16):.2e}"
            )

    if args.train_steps:
        devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
        for dev in devices:
            step = _train_step_time(model, dev, args.train_steps, args.seconds)
            print(
                f"  training step, batch 4 x {args.seconds:g} s, {dev} "
                f"({resolve_precision('auto', dev)}, heap kept as in training): {step:.2f} s/step"
            )
