"""Time per epoch of ConvMaxPool's three pre-trainings of the CNN (autoencoder,
degradation classifier, DCEC) on one machine, at their default sizes.

Measures:
- making the degradation classifier's set: the six versions of a 10 s excerpt (decode,
  clip, an ffmpeg codec round trip, noise, reverberation, echo, FLAC writes), per source;
- a training step of the autoencoder on a batch of 64 log-mel segments (forward, MSE,
  backward, Adam), and of DCEC (the same plus the clustering layer's KL term);
- DCEC's target update: the embedding of every segment (once per epoch by default);
- a training step of the degradation classifier on 16 whole 10 s clips (247 segments
  each) and its evaluation forward pass per clip.

and reports seconds per epoch for `--files` files of unlabeled music: the autoencoder and
DCEC on 32 segments per file (90 % trained, 10 % held out), the classifier on the six
versions of each file's excerpt.

Steps run inside `modeling.heap.retained_heap()`, as `pretrain_cnn` does; `--default-heap`
times them with the C library's default allocation instead.

    python -m bench pretraining -- --steps 3 --files 1000
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.scoring import _machine, _write_clips
from modeling import heap
from modeling.baselines.pretext import (
    ClusteringLayer,
    DegradationClassifier,
    SegmentAutoencoder,
    clustering_loss,
    target_distribution,
)
from modeling.baselines.pretrain import CNNPretrainConfig
from modeling.baselines.store import MelFrontEnd
from modeling.degrade import DegradeSettings, make_degraded_set


def _timed(step: object, steps: int) -> float:
    assert callable(step)
    times = []
    for n in range(steps + 1):  # the first step warms up and is not counted
        started = time.perf_counter()
        step()
        if n:
            times.append(time.perf_counter() - started)
    return float(np.mean(times))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench pretraining", description=__doc__)
    parser.add_argument("--files", type=int, default=1000, help="unlabeled files the epoch has")
    parser.add_argument("--sources", type=int, default=3, help="sources degraded and timed")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--default-heap",
        action="store_true",
        help="time the steps without the retained heap that pre-training uses",
    )
    args = parser.parse_args(argv)
    if args.sources < 1 or args.steps < 1:
        parser.error("--sources and --steps must be at least 1")
    kept = not args.default_heap and heap.supported()
    with heap.retained_heap() if kept else contextlib.nullcontext():
        _measure(args, kept)


def _measure(args: argparse.Namespace, kept: bool) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(_machine(torch.device("cpu")), flush=True)
    print(f"  heap: {'retained (as pre-training)' if kept else 'C library default'}", flush=True)
    defaults = CNNPretrainConfig()
    train_share = 1 - defaults.val_share

    with tempfile.TemporaryDirectory() as tmp:
        sources = _write_clips(Path(tmp), args.sources, 10.0, 44100)
        started = time.perf_counter()
        made = make_degraded_set(sources, Path(tmp) / "set", DegradeSettings())
        per_source = (time.perf_counter() - started) / args.sources
        clips = [MelFrontEnd()(f.path, max_seconds=None) for f in made.files[:16]]
    print(
        f"  degraded set: {per_source:.2f} s per source (6 versions), "
        f"{per_source * args.files / 60:.1f} min once for {args.files} files",
        flush=True,
    )

    segments = torch.from_numpy(np.concatenate(clips)[:64].copy())
    autoencoder = SegmentAutoencoder(48, 15, defaults.embed_dim)
    clustering = ClusteringLayer(defaults.clusters, defaults.embed_dim)
    with torch.no_grad():
        clustering.centers.normal_()
    optimizer = torch.optim.Adam(
        [*autoencoder.parameters(), *clustering.parameters()], lr=defaults.lr
    )

    def ae_step(dcec: bool = False) -> None:
        z, rebuilt = autoencoder(segments)
        loss = F.mse_loss(rebuilt, (segments - segments.mean()) / segments.std())
        if dcec:
            q = clustering(z)
            loss = loss + 0.1 * clustering_loss(q, target_distribution(q).detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()

    ae = _timed(ae_step, args.steps)
    dcec = _timed(lambda: ae_step(dcec=True), args.steps)
    with torch.inference_mode():
        started = time.perf_counter()
        autoencoder.encode(segments)
        embed = (time.perf_counter() - started) / segments.shape[0]
    n_segments = args.files * defaults.segments_per_file
    steps = math.ceil(n_segments * train_share / defaults.batch_size)
    for name, step, extra in (("autoencoder", ae, 0.0), ("DCEC", dcec, embed * n_segments)):
        # held-out loss: a forward pass per held-out segment, about a third of a step's cost
        epoch = steps * step + extra + (n_segments * defaults.val_share / 64) * step / 3
        print(
            f"  {name:<12} batch 64 segments: {step:6.3f} s per step; epoch of {n_segments} "
            f"segments ≈ {epoch:7.1f} s ({steps} steps"
            + (f", target update {extra:.1f} s)" if extra else ")"),
            flush=True,
        )

    classifier = DegradationClassifier(6)
    # 16 clips whatever --sources is (fewer than three sources make fewer than 16 clips).
    batch = torch.from_numpy(np.stack([clips[i % len(clips)] for i in range(16)]))
    mask = torch.ones(batch.shape[:2], dtype=torch.long)
    labels = torch.arange(16) % 6
    classifier_optimizer = torch.optim.Adam(classifier.parameters(), lr=defaults.lr)

    def classifier_step() -> None:
        loss = F.cross_entropy(classifier(batch, mask), labels)
        classifier_optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        classifier_optimizer.step()

    classifier.train()
    step = _timed(classifier_step, args.steps)
    classifier.eval()
    with torch.inference_mode():
        started = time.perf_counter()
        classifier(batch, mask)
        forward = (time.perf_counter() - started) / batch.shape[0]
    n_clips = args.files * 6
    steps = math.ceil(n_clips * train_share / 16)
    epoch = steps * step + n_clips * defaults.val_share * forward
    print(
        f"  degradation  batch 16 clips: {step:6.2f} s per step, {forward * 1000:.0f} ms per "
        f"clip scored; epoch of {n_clips} clips ≈ {epoch:7.1f} s ({steps} steps)",
        flush=True,
    )
