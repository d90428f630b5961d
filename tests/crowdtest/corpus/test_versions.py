"""The Corpus tab sets which tracks are versions of one work and which track a processed
version was made from; unknown names are refused with nothing changed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from crowdtest.corpus.models import Experiment, Track
from crowdtest.corpus.services import CorpusError, tracks_set_versions
from tests.factories import TrackFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tracks(experiment: Experiment) -> list[Track]:
    return [
        TrackFactory(experiment=experiment, original_name=name)
        for name in ("lp/transfer.wav", "lp/declicked.wav", "lp/pressing-2.wav")
    ]


def test_versions_and_references_are_set_by_name_or_file_name(
    experiment: Experiment, tracks: list[Track]
) -> None:
    changed = tracks_set_versions(
        experiment=experiment,
        text="track,work_id,reference\n"
        "lp/transfer.wav,side-a,\n"
        "declicked.wav,side-a,lp/transfer.wav\n"
        "pressing-2.wav,side-a\n",
    )
    assert changed == 3
    rows = {t.original_name: (t.work_id, t.reference) for t in experiment.tracks.all()}
    assert rows == {
        "lp/transfer.wav": ("side-a", ""),
        "lp/declicked.wav": ("side-a", "lp/transfer.wav"),
        "lp/pressing-2.wav": ("side-a", ""),
    }
    assert tracks_set_versions(experiment=experiment, text="transfer.wav,side-a,") == 0


def test_unknown_tracks_are_refused_and_nothing_changes(
    experiment: Experiment, tracks: list[Track]
) -> None:
    with pytest.raises(CorpusError) as refused:
        tracks_set_versions(
            experiment=experiment,
            text="lp/transfer.wav,side-a,\nghost.wav,side-a,\nlp/declicked.wav,side-a,lost.wav",
        )
    message = str(refused.value)
    assert "line 2: no track named 'ghost.wav'" in message
    with pytest.raises(CorpusError, match=r"line 1: 'transfer\.wav' can't be its own reference"):
        tracks_set_versions(experiment=experiment, text="transfer.wav,side-a,lp/transfer.wav")
    assert "line 3: the reference 'lost.wav' is no track" in message
    assert not experiment.tracks.exclude(work_id="").exists()


def test_the_corpus_tab_form_sets_them_and_shows_errors(
    client: Client, staff_user: User, experiment: Experiment, tracks: list[Track]
) -> None:
    client.force_login(staff_user)
    url = f"/experiments/{experiment.slug}/tracks/versions/"
    page = client.post(url, {"lines": "nothing.wav,w,"}, follow=True).content.decode()
    assert "no track named" in page
    page = client.post(url, {"lines": "transfer.wav,w-1,\n"}, follow=True).content.decode()
    assert "1 track(s) changed." in page and 'id="versions"' in page
    assert experiment.tracks.get(original_name="lp/transfer.wav").work_id == "w-1"


def test_a_file_name_several_tracks_share_is_taken_within_the_work_or_refused(
    experiment: Experiment,
) -> None:
    for work in ("w0", "w1"):
        for name in ("clean.wav", "hiss.wav"):
            TrackFactory(experiment=experiment, original_name=f"{work}/{name}", work_id=work)
    # The reference by file name alone: the one of the line's own work.
    tracks_set_versions(experiment=experiment, text="w1/hiss.wav,w1,clean.wav")
    assert experiment.tracks.get(original_name="w1/hiss.wav").reference == "clean.wav"
    with pytest.raises(CorpusError) as refused:
        tracks_set_versions(experiment=experiment, text="hiss.wav,w2,clean.wav")
    message = str(refused.value)
    assert "line 1: 'hiss.wav' matches 2 tracks (w0/hiss.wav, w1/hiss.wav)" in message
    assert "give its path as imported" in message


def test_versions_stay_once_votes_are_collected(experiment: Experiment) -> None:
    from tests.factories import VoteFactory

    track = TrackFactory(experiment=experiment, original_name="lp/transfer.wav")
    VoteFactory(item__assignment__rater__experiment=experiment)
    with pytest.raises(CorpusError, match="Votes have already been collected"):
        tracks_set_versions(experiment=experiment, text="lp/transfer.wav,side-a,")
    track.refresh_from_db()
    assert track.work_id == ""
