"""An archive's files listed as they are found, in the order of the whole-list readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeling.w2vmos.data import read_manifest
from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.listing import iter_manifest_paths, walk_audio_files
from modeling.w2vmos.pretrain import find_audio_files


def test_a_folder_is_walked_in_sorted_path_order(tmp_path: Path) -> None:
    for name in ["b.wav", "a.flac", "a/z.wav", "a/b/c.mp3", "a.wav", "A.WAV", "notes.txt", "c/"]:
        path = tmp_path / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    walked = [Path(p) for p in walk_audio_files(tmp_path)]
    assert walked == find_audio_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in walked] == [
        "A.WAV",
        "a/b/c.mp3",
        "a/z.wav",
        "a.flac",
        "a.wav",
        "b.wav",
    ]


def test_a_manifest_is_read_row_by_row_with_relative_paths_from_its_folder(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,mos\nx/one.wav,3\n/abs/two.flac,\n")
    listed = [Path(p) for p in iter_manifest_paths(manifest)]
    assert listed == [i.path for i in read_manifest(manifest)]
    assert next(iter_manifest_paths(manifest)) == str(tmp_path / "x" / "one.wav")


@pytest.mark.parametrize(
    ("text", "message"),
    [("file\nx.wav\n", "needs a 'path' column"), ('path\nx.wav\n""\n', "line 3: empty path")],
)
def test_a_bad_manifest_says_why(tmp_path: Path, text: str, message: str) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text(text)
    with pytest.raises(W2VMOSError, match=message):
        list(iter_manifest_paths(manifest))


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(W2VMOSError, match="is not a folder"):
        list(walk_audio_files(tmp_path / "nowhere"))
