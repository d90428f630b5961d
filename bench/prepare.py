"""Stimulus preparation + features per track: ours against the dataset authors' approach.

Both run on the same synthetic 3-minute 44.1 kHz stereo tracks, written as WAV and FLAC.

- ours, as `prepare_stimuli` runs it per track: `prepare_stimulus(deliver=False)` (seek to
  the middle 10 s, BS.1770 gain in numpy, FLAC master) then `extract_features` on the
  returned array. The AAC delivery file is encoded later, only for the stimuli clustering
  keeps (620 of the paper's 1,078): its cost is measured too and shared out per track;
- reference: `librosa.load(path, sr=44100)` of the whole track, cut the middle 10 s, then
  three ffmpeg passes: encode (AAC 320k), decode (to WAV), `loudnorm` to -23 LUFS (WAV);
  plus the same `extract_features` on its result, for the total.

Every figure is given as wall time and as CPU time (user + system, ffmpeg children
included): on a shared machine wall time measures the neighbours too, CPU time much less.
Then ours runs in a process pool (default 2 workers) over every file, and the throughput
is projected to the paper's 1,078 tracks.

    python -m bench prepare -- --tracks 8
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import librosa
import soundfile as sf
from threadpoolctl import threadpool_limits

from modeling.audio.encode import available_aac_encoder, encode_delivery
from modeling.audio.excerpt import read_excerpt
from modeling.audio.loudness import integrated_loudness, true_peak_db
from modeling.audio.probe import probe_audio
from modeling.audio.stimulus import deliver_stimulus, prepare_stimulus
from modeling.features import extract_features
from modeling.synth import FAULTS, synth_track

RATE = 44_100
PAPER_TRACKS = 1_078
PAPER_SELECTED = 620  # kept after equalising the clusters: the ones raters hear
GOAL_SPEEDUP = 5.0
GOAL_MINUTES = 10.0


@dataclass(frozen=True)
class Cost:
    wall: float
    cpu: float

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.wall + other.wall, self.cpu + other.cpu)


def _now() -> Cost:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return Cost(time.perf_counter(), cpu)


def _since(start: Cost) -> Cost:
    end = _now()
    return Cost(end.wall - start.wall, end.cpu - start.cpu)


@dataclass(frozen=True)
class TrackCost:
    track: str
    ours_prep: Cost
    ours_total: Cost
    ref_prep: Cost
    ref_total: Cost
    ours_delivery: Cost  # the AAC encode of a kept stimulus, from its master


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench prepare", description=__doc__)
    parser.add_argument("--tracks", type=int, default=8, help="synthetic tracks (default 8)")
    parser.add_argument("--seconds", type=float, default=180.0, help="track length (180)")
    parser.add_argument("--workers", type=int, default=2, help="pool processes (default 2)")
    options = parser.parse_args(argv)
    print_machine()
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as folder:
        root = Path(folder)
        sources = write_tracks(root / "tracks", options.tracks, options.seconds)
        warm_up(sources[0], root / "warm")
        rows = [time_track(source, root / "out") for source in sources]
        print_table(rows)
        print_stages(sources, root / "stages")
        pool = time_pool(sources, root / "pool", options.workers)
    print_projection(rows, pool, options.workers)


def print_machine() -> None:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False)
    print(f"machine: {model}, {os.cpu_count()} CPUs ({usable} usable), {platform.platform()}")
    print(f"python {platform.python_version()}, {ffmpeg.stdout.splitlines()[0]}")
    print(f"AAC encoder: {available_aac_encoder()}; load average before the run: {load()}")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def write_tracks(folder: Path, count: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True)
    started, sources = time.perf_counter(), []
    for index in range(count):
        faults = {FAULTS[index % len(FAULTS)]: 0.5, "hiss": 0.2, "crackle": 0.2}
        audio = synth_track(seconds=seconds, sample_rate=RATE, seed=index, faults=faults)
        for suffix in ("wav", "flac"):
            path = folder / f"track{index:03d}.{suffix}"
            sf.write(path, audio, RATE, subtype="PCM_16")
            sources.append(path)
    elapsed = time.perf_counter() - started
    print(f"wrote {count} tracks x (WAV, FLAC), {seconds:.0f} s each, in {elapsed:.1f} s\n")
    return sources


def ours(source: Path, out_dir: Path) -> tuple[Cost, Cost]:
    """Cost of our preparation (master, no delivery yet), and of its excerpt's features."""
    start = _now()
    result = prepare_stimulus(source, out_dir, name=uuid.uuid4().hex, deliver=False)
    prepared = _since(start)
    start = _now()
    extract_features(result.audio, result.sample_rate)
    return prepared, _since(start)


def delivery(source: Path, out_dir: Path) -> Cost:
    """Cost of encoding one kept stimulus's delivery file from its master."""
    name = uuid.uuid4().hex
    result = prepare_stimulus(source, out_dir, name=name, deliver=False)
    start = _now()
    deliver_stimulus(result.master_path, out_dir, name=name)
    return _since(start)


def reference(source: Path, out_dir: Path) -> tuple[Cost, Cost]:
    """Cost of the authors' preparation, and of the same features of its result."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    start = _now()
    audio, rate = librosa.load(source, sr=RATE)  # the whole track, mixed to mono
    middle, half = len(audio) // 2, 5 * RATE
    cut, encoded = out_dir / f"{name}-cut.wav", out_dir / f"{name}.m4a"
    decoded, normalised = out_dir / f"{name}-decoded.wav", out_dir / f"{name}-norm.wav"
    sf.write(cut, audio[middle - half : middle + half], rate)
    ffmpeg("-i", str(cut), "-c:a", "aac", "-b:a", "320k", str(encoded))
    ffmpeg("-i", str(encoded), str(decoded))
    ffmpeg("-i", str(decoded), "-af", "loudnorm=I=-23", "-ar", str(RATE), str(normalised))
    prepared = _since(start)
    start = _now()
    result, result_rate = sf.read(normalised, dtype="float32")
    extract_features(result, result_rate)
    return prepared, _since(start)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def warm_up(source: Path, out_dir: Path) -> None:
    """One untimed run of each, so lazy imports and caches don't land on the first track."""
    started = time.perf_counter()
    ours(source, out_dir)
    reference(source, out_dir)
    print(f"warm-up (imports, first calls): {time.perf_counter() - started:.1f} s, untimed\n")


def time_track(source: Path, out_dir: Path) -> TrackCost:
    our_prep, our_features = ours(source, out_dir)
    ref_prep, ref_features = reference(source, out_dir)
    return TrackCost(
        source.name,
        our_prep,
        our_prep + our_features,
        ref_prep,
        ref_prep + ref_features,
        delivery(source, out_dir),
    )


def print_table(rows: list[TrackCost]) -> None:
    print("seconds per track, preparation + features (serial, one process)")
    print("('mean + delivery': ours with the AAC encodes of the 620 kept of 1,078 shared out)")
    header = (
        f"{'track':<15}{'ours wall':>10}{'ours cpu':>10}{'ref wall':>10}{'ref cpu':>10}"
        f"{'speedup wall':>14}{'speedup cpu':>13}"
    )
    print(header)
    print("-" * len(header))
    lines = [(row.track, row.ours_total, row.ref_total) for row in rows]
    lines += [
        ("mean", mean_cost([r.ours_total for r in rows]), mean_cost([r.ref_total for r in rows])),
        (
            "mean prep only",
            mean_cost([r.ours_prep for r in rows]),
            mean_cost([r.ref_prep for r in rows]),
        ),
        (
            "mean + delivery",
            with_delivery(rows),
            mean_cost([r.ref_total for r in rows]),
        ),
    ]
    for label, mine, theirs in lines:
        print(
            f"{label:<15}{mine.wall:>10.3f}{mine.cpu:>10.3f}{theirs.wall:>10.3f}{theirs.cpu:>10.3f}"
            f"{theirs.wall / mine.wall:>13.1f}x{theirs.cpu / mine.cpu:>12.1f}x"
        )
    print()


def with_delivery(rows: list[TrackCost]) -> Cost:
    """Ours per track with the delivery encodes shared out: 620 of 1,078 tracks are kept."""
    share = PAPER_SELECTED / PAPER_TRACKS
    encode = mean_cost([r.ours_delivery for r in rows])
    total = mean_cost([r.ours_total for r in rows])
    return Cost(total.wall + share * encode.wall, total.cpu + share * encode.cpu)


def mean_cost(costs: list[Cost]) -> Cost:
    return Cost(statistics.mean(c.wall for c in costs), statistics.mean(c.cpu for c in costs))


def print_stages(sources: list[Path], out_dir: Path) -> None:
    """Where our time goes: each stage of `prepare_stimulus` run by hand, mean over tracks."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stages: dict[str, list[Cost]] = {}

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        start = _now()
        yield
        stages.setdefault(name, []).append(_since(start))

    for source in sources:
        with stage("probe (header + tail check)"):
            info = probe_audio(source)
        with stage("read middle 10 s"):
            excerpt = read_excerpt(source, info=info)
        with stage("loudness before"):
            level = integrated_loudness(excerpt.audio, RATE)
        with stage("true peak (4x oversampling)"):
            true_peak_db(excerpt.audio, RATE)
        gained = (excerpt.audio * 10 ** ((-23.0 - level) / 20)).astype("float32")
        with stage("loudness after"):
            integrated_loudness(gained, RATE)
        with stage("write FLAC master"):
            sf.write(out_dir / "master.flac", gained, RATE, subtype="PCM_24")
        with stage("AAC encode (ffmpeg)"):
            encode_delivery(gained, RATE, out_dir / "delivery.m4a")
        with stage("features (253)"):
            extract_features(gained, RATE)
    print(f"our stages, mean seconds per track{'wall':>9}{'cpu':>8}")
    total = Cost(0.0, 0.0)
    for name, costs in stages.items():
        cost = mean_cost(costs)
        total += cost
        print(f"  {name:<40}{cost.wall:>7.3f}{cost.cpu:>8.3f}")
    print(f"  {'sum':<40}{total.wall:>7.3f}{total.cpu:>8.3f}\n")


def _pool_start() -> None:
    threadpool_limits(1)  # one BLAS thread per worker: the pool is the parallelism


def _pool_job(job: tuple[Path, Path]) -> float:
    """CPU seconds of one track, measured in the worker (it waits for its own ffmpeg)."""
    prepared, featured = ours(*job)
    return prepared.cpu + featured.cpu


@dataclass(frozen=True)
class PoolCost:
    tracks: int
    wall: float
    cpu_per_track: float


def time_pool(sources: list[Path], out_dir: Path, workers: int) -> PoolCost:
    """Our preparation + features over every source in a pool of `workers` processes."""
    jobs = [(source, out_dir) for source in sources]
    with ProcessPoolExecutor(max_workers=workers, initializer=_pool_start) as pool:
        list(pool.map(_pool_job, jobs[:workers]))  # start and warm every worker, untimed
        started = time.perf_counter()
        cpu = sum(pool.map(_pool_job, jobs))
        wall = time.perf_counter() - started
    result = PoolCost(len(jobs), wall, cpu / len(jobs))
    print(
        f"pool of {workers}: {len(jobs)} tracks (prep + features) in {wall:.1f} s wall, "
        f"{len(jobs) / wall:.2f} tracks/s; {result.cpu_per_track:.2f} CPU s per track"
    )
    return result


def print_projection(rows: list[TrackCost], pool: PoolCost, workers: int) -> None:
    measured = PAPER_TRACKS * pool.wall / pool.tracks / 60
    ideal = PAPER_TRACKS * pool.cpu_per_track / workers / 60
    encode = mean_cost([r.ours_delivery for r in rows])
    deliveries = PAPER_SELECTED * encode.cpu / workers / 60
    print(f"projection, {PAPER_TRACKS} tracks with features on {workers} workers:")
    print(f"  from the measured pool throughput:        {measured:6.1f} min")
    print(f"  from CPU time, {workers} idle cores of this kind: {ideal:6.1f} min")
    print(
        f"  then the {PAPER_SELECTED} kept stimuli's AAC deliveries (CPU time): "
        f"{deliveries:6.1f} min, {ideal + deliveries:.1f} min in all"
    )
    wall_speedup = (
        mean_cost([r.ref_total for r in rows]).wall / mean_cost([r.ours_total for r in rows]).wall
    )
    cpu_speedup = (
        mean_cost([r.ref_total for r in rows]).cpu / mean_cost([r.ours_total for r in rows]).cpu
    )
    for goal, reached in (
        (f">= {GOAL_SPEEDUP:.0f}x per track (wall)", wall_speedup >= GOAL_SPEEDUP),
        (f">= {GOAL_SPEEDUP:.0f}x per track (CPU)", cpu_speedup >= GOAL_SPEEDUP),
        (f"{PAPER_TRACKS} tracks < {GOAL_MINUTES:.0f} min (measured)", measured < GOAL_MINUTES),
        (f"{PAPER_TRACKS} tracks < {GOAL_MINUTES:.0f} min (CPU time)", ideal < GOAL_MINUTES),
    ):
        print(f"goal {goal}: {'met' if reached else 'NOT met'}")
    full = mean_cost([r.ref_total for r in rows]).cpu / with_delivery(rows).cpu
    print(f"speedups: {wall_speedup:.1f}x wall, {cpu_speedup:.1f}x CPU per track prepared;")
    print(f"  {full:.1f}x CPU with the kept stimuli's deliveries shared out")
    print(f"load average after the run: {load()} (a busy machine inflates wall times)")
