"""Importing tracks from a folder, a manifest, an S3 prefix and uploads; bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import pytest
from botocore.stub import Stubber
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django import Settings

from crowdtest.corpus.models import Experiment, Track
from crowdtest.corpus.services import CorpusError, tracks_import, tracks_upload
from crowdtest.corpus.sources import local_copy, s3_candidates, s3_client

from .conftest import WriteTrack

pytestmark = pytest.mark.django_db


def errors_by_name(experiment: Experiment) -> dict[str, str]:
    return dict(experiment.tracks.exclude(error="").values_list("original_name", "error"))


def test_folder_import_records_properties_and_checksum(
    experiment: Experiment, write_track: WriteTrack, tmp_path: Path
) -> None:
    path = write_track("side-a/one.wav", seconds=3, sample_rate=22050)
    write_track("side-b/two.flac", seconds=4, sample_rate=16000, channels=1, seed=1)
    (tmp_path / "archive" / "cover.jpg").write_bytes(b"\xff\xd8 not audio")

    report = tracks_import(experiment=experiment, source=str(tmp_path / "archive"))

    assert report.skipped_non_audio == 1
    assert not report.errors
    one = experiment.tracks.get(original_name="side-a/one.wav")
    assert one.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert one.sample_rate == 22050
    assert one.channels == 2
    assert one.duration_s == pytest.approx(3.0, abs=0.01)
    two = experiment.tracks.get(original_name="side-b/two.flac")
    assert two.channels == 1
    assert "FLAC" in two.audio_format


def test_reimporting_the_same_files_changes_nothing(
    experiment: Experiment, write_track: WriteTrack, tmp_path: Path
) -> None:
    write_track("a.wav")
    write_track("b.wav", seed=2)
    first = tracks_import(experiment=experiment, source=str(tmp_path / "archive"))
    rows = list(experiment.tracks.values_list("pk", "checksum", "imported_at"))

    second = tracks_import(experiment=experiment, source=str(tmp_path / "archive"))

    assert len(first.created) == 2
    assert second.created == []
    assert sorted(second.duplicates) == ["a.wav", "b.wav"]
    assert list(experiment.tracks.values_list("pk", "checksum", "imported_at")) == rows


def test_manifest_metadata_and_paths_outside_the_roots(
    experiment: Experiment, write_track: WriteTrack, tmp_path: Path, settings: Settings
) -> None:
    write_track("a.wav", folder=tmp_path / "lib")
    outside = Path("/etc/hostname")
    manifest = tmp_path / "lib" / "manifest.csv"
    manifest.write_text(
        "path,title,artist,year,label,carrier\n"
        "a.wav,Why Was I Born,Someone,1958,Columbia,LP\n"
        f"{outside},Escape,,,,\n"
        "../../../../etc/passwd,Traversal,,,,\n"
        "missing.wav,Ghost,,,,\n"
    )
    settings.IMPORT_ROOTS = [tmp_path / "lib"]

    report = tracks_import(experiment=experiment, source=str(manifest))

    track = experiment.tracks.get()
    assert (track.title, track.artist, track.year, track.label, track.carrier) == (
        "Why Was I Born",
        "Someone",
        1958,
        "Columbia",
        "LP",
    )
    messages = dict(report.errors)
    assert "outside the allowed import roots" in messages[str(outside)]
    assert "outside the allowed import roots" in messages["../../../../etc/passwd"]
    assert "no such file" in messages["missing.wav"]


def test_manifest_groups_versions_of_a_work_and_names_references(
    experiment: Experiment, write_track: WriteTrack, tmp_path: Path, settings: Settings
) -> None:
    for seed, name in enumerate(("transfer.wav", "declicked.wav", "pressing-2.wav")):
        write_track(name, folder=tmp_path / "lib", seed=seed)
    manifest = tmp_path / "lib" / "manifest.csv"
    manifest.write_text(
        "path,title,work_id,reference\n"
        "transfer.wav,Side A,lp-1,\n"
        "declicked.wav,Side A (declicked),lp-1,transfer.wav\n"
        "pressing-2.wav,Side A (second pressing),lp-1,\n"
    )
    settings.IMPORT_ROOTS = [tmp_path / "lib"]

    tracks_import(experiment=experiment, source=str(manifest))

    rows = dict(experiment.tracks.values_list("original_name", "work_id").order_by("original_name"))
    assert rows == {"declicked.wav": "lp-1", "pressing-2.wav": "lp-1", "transfer.wav": "lp-1"}
    assert experiment.tracks.get(original_name="declicked.wav").reference == "transfer.wav"
    assert experiment.tracks.get(original_name="transfer.wav").reference == ""


def test_a_folder_outside_the_roots_or_a_link_out_of_them_is_refused(
    experiment: Experiment, write_track: WriteTrack, tmp_path: Path, settings: Settings
) -> None:
    write_track("a.wav")
    folder = tmp_path / "archive"
    secret = tmp_path / "private" / "secret.wav"
    secret.parent.mkdir()
    secret.write_bytes(b"RIFF not for raters")
    (folder / "passwd.wav").symlink_to("/etc/passwd")
    (folder / "escape.wav").symlink_to(secret)
    (folder / "up").symlink_to(tmp_path / "private", target_is_directory=True)
    settings.IMPORT_ROOTS = [folder.resolve()]

    report = tracks_import(experiment=experiment, source=str(folder))

    messages = dict(report.errors)
    assert set(messages) == {"passwd.wav", "escape.wav"}  # a linked folder is not walked
    assert all("outside the allowed import roots" in m for m in messages.values())
    assert experiment.tracks.get().original_name == "a.wav"  # nothing read through a link

    # The same check for a manifest and for the folder itself.
    settings.IMPORT_ROOTS = [(tmp_path / "elsewhere").resolve()]
    with pytest.raises(CorpusError, match="outside the allowed import roots"):
        tracks_import(experiment=experiment, source=str(folder))
    manifest = folder / "manifest.csv"
    manifest.write_text("path\na.wav\n")
    with pytest.raises(CorpusError, match="add its folder to IMPORT_ROOTS"):
        tracks_import(experiment=experiment, source=str(manifest))


def test_bad_files_get_clear_errors_and_the_batch_goes_on(
    experiment: Experiment, write_track: WriteTrack, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    good = write_track("good.wav")
    write_track("short.wav", seconds=1.0, seed=3)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    truncated = folder / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    (folder / "garbage.flac").write_bytes(b"fLaC" + bytes(range(256)) * 8)

    report = tracks_import(experiment=experiment, source=str(folder))

    errors = errors_by_name(experiment)
    assert set(errors) == {"short.wav", "empty.wav", "notes.wav", "truncated.wav", "garbage.flac"}
    assert "excerpt needs 2.0 s" in errors["short.wav"]
    assert "empty" in errors["empty.wav"]
    assert len(report.errors) == 5
    assert experiment.tracks.filter(error="").get().original_name == "good.wav"


@pytest.mark.parametrize(
    ("name", "sample_rate", "channels"), [("hires.wav", 96000, 2), ("surround.wav", 16000, 6)]
)
def test_high_rate_and_multichannel_files_are_imported(
    experiment: Experiment,
    write_track: WriteTrack,
    tmp_path: Path,
    name: str,
    sample_rate: int,
    channels: int,
) -> None:
    write_track(name, seconds=3, sample_rate=sample_rate, channels=channels)
    tracks_import(experiment=experiment, source=str(tmp_path / "archive"))
    track = experiment.tracks.get()
    assert (track.error, track.sample_rate, track.channels) == ("", sample_rate, channels)


def test_missing_folder_is_a_clear_error(experiment: Experiment, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="is not a folder"):
        tracks_import(experiment=experiment, source=str(tmp_path / "nowhere"))


def test_uploads_are_stored_under_opaque_names(
    experiment: Experiment, write_track: WriteTrack
) -> None:
    data = write_track("Why Was I Born.wav").read_bytes()
    files = [
        SimpleUploadedFile("Why Was I Born.wav", data),
        SimpleUploadedFile("again.wav", data),
        SimpleUploadedFile("readme.wav", b"plain text"),
    ]

    folder = f"tracks/{experiment.pk}"
    before = set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()
    report = tracks_upload(experiment=experiment, files=files)

    assert report.duplicates == ["again.wav"]
    track = experiment.tracks.get(original_name="Why Was I Born.wav")
    assert track.source_kind == Track.SourceKind.UPLOAD
    assert "Why" not in track.source
    # Not audio: refused and kept out, its stored copy deleted, named as uploaded.
    assert not experiment.tracks.filter(original_name="readme.wav").exists()
    [(name, error)] = report.errors
    assert name == "readme.wav" and "tracks/" not in error
    added = set(default_storage.listdir(folder)[1]) - before
    assert added == {PurePosixPath(track.source).name}


def test_s3_prefix_listing_and_download(write_track: WriteTrack) -> None:
    client = s3_client()
    body = write_track("x.wav").read_bytes()
    with Stubber(client) as stub:
        stub.add_response(
            "list_objects_v2",
            {
                "Contents": [
                    {"Key": "vinyl/a.flac", "Size": 10},
                    {"Key": "vinyl/cover.png", "Size": 10},
                ],
                "IsTruncated": True,
                "NextContinuationToken": "page-2",
            },
            {"Bucket": "archive", "Prefix": "vinyl/"},
        )
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "vinyl/b.wav", "Size": 10}], "IsTruncated": False},
            {"Bucket": "archive", "Prefix": "vinyl/", "ContinuationToken": "page-2"},
        )
        candidates = s3_candidates("s3://archive/vinyl/", client=client)
    assert [c.source for c in candidates] == [
        "s3://archive/vinyl/a.flac",
        "s3://archive/vinyl/b.wav",
    ]

    from io import BytesIO

    from botocore.response import StreamingBody

    with Stubber(client) as stub:
        stub.add_response(
            "head_object", {"ContentLength": len(body)}, {"Bucket": "archive", "Key": "vinyl/b.wav"}
        )
        stub.add_response(
            "get_object",
            {"Body": StreamingBody(BytesIO(body), len(body)), "ContentLength": len(body)},
            {"Bucket": "archive", "Key": "vinyl/b.wav"},
        )
        with local_copy("s3", "s3://archive/vinyl/b.wav", client=client) as path:
            assert path.read_bytes() == body


def test_unreachable_s3_bucket_is_a_clear_error(
    experiment: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    from django.test import override_settings

    with (
        override_settings(AWS_S3_ENDPOINT_URL="http://127.0.0.1:9"),
        pytest.raises(CorpusError, match="S3 bucket 'archive' is unreachable"),
    ):
        tracks_import(experiment=experiment, source="s3://archive/vinyl/")
