"""Archive scoring: per-file errors, and batched scores equal one-at-a-time scores."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from modeling.w2vmos.config import ModelConfig
from modeling.w2vmos.model import build_model
from modeling.w2vmos.score import (
    length_buckets,
    score_files,
    score_one_at_a_time,
    write_scores_csv,
)

from .conftest import TINY_GROUP, ClipFactory


@pytest.fixture
def folder(tmp_path: Path, make_clip: ClipFactory) -> list[Path]:
    paths = [
        make_clip(f"track{i}.wav", seconds=s, noise=0.05 * i, seed=i)
        for i, s in enumerate([0.6, 2.0, 1.3, 0.9, 1.7, 2.5])
    ]
    corrupt = tmp_path / "audio" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    tiny = make_clip("tiny.wav", seconds=0.002)  # 32 samples: below the receptive field
    return [paths[0], corrupt, *paths[1:4], tiny, *paths[4:]]


def test_length_buckets_group_similar_lengths() -> None:
    lengths = [(0, 1.0), (1, 9.0), (2, 2.0), (3, 8.0), (4, 1.5)]
    assert length_buckets(lengths, 2) == [[1, 3], [2, 4], [0]]


def test_scoring_a_folder_reports_bad_files_and_scores_the_rest(
    folder: list[Path], tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(tiny_config=TINY_GROUP))
    seen: list[tuple[int, int]] = []
    results = list(
        score_files(
            model,
            folder,
            batch_size=3,
            device="cpu",
            max_seconds=2.0,
            num_workers=2,
            progress=lambda done, total: seen.append((done, total)),
        )
    )
    assert sorted(r.index for r in results) == list(range(len(folder)))
    by_name = {r.path.name: r for r in results}
    assert by_name["corrupt.wav"].mos is None and "unreadable" in (
        by_name["corrupt.wav"].error or ""
    )
    assert by_name["tiny.wav"].mos is None and "shorter than" in (by_name["tiny.wav"].error or "")
    scored = [r for r in results if r.mos is not None]
    assert len(scored) == 6
    assert seen[-1] == (len(folder), len(folder))

    naive = {r.index: r for r in score_one_at_a_time(model, folder, max_seconds=2.0)}
    for r in scored:
        assert naive[r.index].mos == pytest.approx(r.mos, abs=1e-4)
    assert naive[1].error is not None and naive[1].mos is None

    out = write_scores_csv(results, tmp_path / "scores.csv")
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [Path(row["path"]).name for row in rows] == [p.name for p in folder]
    assert rows[1]["mos"] == "" and rows[1]["error"]


class _ForkHook:
    """Stands for kombu's connection pools, which register a clean-up to run in forked
    children (closing the parent's broker sockets; that hung loading workers)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker


def _touch(hook: _ForkHook) -> None:
    hook.marker.write_text("ran in a forked child")


def test_loading_workers_do_not_run_the_callers_after_fork_hooks(
    folder: list[Path], tmp_path: Path
) -> None:
    from multiprocessing.util import register_after_fork

    hook = _ForkHook(tmp_path / "after-fork-ran")
    register_after_fork(hook, _touch)
    model = build_model(ModelConfig(tiny_config=TINY_GROUP))

    results = list(
        score_files(model, folder[:3], batch_size=2, device="cpu", max_seconds=1.0, num_workers=2)
    )

    assert len(results) == 3
    assert not hook.marker.exists()
