"""The experimenter's corpus pages: staff only, forms with clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from crowdtest.corpus.models import Experiment
from tests.factories import ExperimentFactory, StimulusFactory, VoteFactory

from .conftest import WriteTrack

pytestmark = pytest.mark.django_db


def test_pages_need_a_staff_account(client: Client, django_user_model: type[User]) -> None:
    experiment = ExperimentFactory()
    url = reverse("corpus:experiment_detail", args=[experiment.slug])
    assert client.get(url).status_code == 302
    django_user_model.objects.create_user("rater", password="pw-123456789")
    assert (
        client.post("/login/", {"username": "rater", "password": "pw-123456789"}).status_code == 302
    )
    assert client.get(url).status_code == 403


def test_create_an_experiment_from_the_list_page(staff_client: Client) -> None:
    url = reverse("corpus:experiment_list")
    response = staff_client.post(url, {"slug": "lp-78", "name": "Shellac"})
    assert response.status_code == 302
    assert Experiment.objects.get(slug="lp-78").config.n_clusters == 5
    response = staff_client.post(url, {"slug": "lp-78", "name": "Again"})
    assert response.status_code == 200
    # Said once, at the slug's field.
    assert response.content.decode().count("slug exists already") == 1
    assert response.context["form"].errors == {
        "slug": ["An experiment with this slug exists already."]
    }


def test_experiment_page_shows_counts_and_problems(staff_client: Client) -> None:
    experiment = ExperimentFactory()
    StimulusFactory.create_batch(3, track__experiment=experiment)
    StimulusFactory(track__experiment=experiment, status="failed", error="excerpt is silent")
    response = staff_client.get(reverse("corpus:experiment_detail", args=[experiment.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "excerpt is silent" in html
    assert (
        staff_client.get(reverse("corpus:stimulus_list", args=[experiment.slug])).status_code == 200
    )


def test_upload_reports_each_bad_file(
    staff_client: Client, write_track: WriteTrack, tmp_path: Path
) -> None:
    experiment = ExperimentFactory(settings={"excerpt_seconds": 2.0})
    good = write_track("good.wav").read_bytes()
    folder = Path(settings.MEDIA_ROOT) / "tracks" / str(experiment.pk)
    before = set(folder.iterdir()) if folder.exists() else set()
    response = staff_client.post(
        reverse("corpus:track_upload", args=[experiment.slug]),
        {"files": [SimpleUploadedFile("good.wav", good), SimpleUploadedFile("bad.wav", b"text")]},
        follow=True,
    )
    html = response.content.decode()
    assert "1 track(s) imported, 1 with errors: the files below were not added." in html
    assert '<li class="warning">' in html  # not a green success
    errors = re.findall(r'<li class="error">(.*?)</li>', html, re.S)
    assert len(errors) == 1 and errors[0].startswith("bad.wav: ")
    assert "tracks/" not in errors[0] and ".wav" in errors[0]  # named as uploaded
    # The refused upload is kept out: no unusable track, no stored file.
    assert [t.original_name for t in experiment.tracks.all()] == ["good.wav"]
    added = set(folder.iterdir()) - before
    assert [p.name for p in added] == [Path(experiment.tracks.get().source).name]


def test_settings_form_validates(staff_client: Client) -> None:
    experiment = ExperimentFactory()
    url = reverse("corpus:experiment_settings", args=[experiment.slug])
    data = {
        **experiment.config.to_dict(),
        "n_clusters": 4,
        "outlier_z": "",
        "min_rater_pcc": "",
        "target_ci_width": "",
        "max_hidden_clips": "",
        "adaptive_max_votes": "",
    }
    data = {k: v for k, v in data.items() if v is not False}
    assert staff_client.post(url, data).status_code == 302
    experiment.refresh_from_db()
    assert experiment.config.n_clusters == 4
    assert experiment.config.screen_math is True
    data["n_clusters"] = 0
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert field_errors(response, "n_clusters") == ["Must be positive."]


def field_errors(response: Any, name: str) -> list[str]:
    """The errors the Settings page shows at one setting's field."""
    html = response.content.decode()
    start = html.index(f'id="setting-{name}"')
    block = html[start : html.index("</div>", start)]
    return re.findall(r'<p class="error field-error"[^>]*>(.*?)</p>', block)


def test_settings_are_grouped_labelled_with_units_and_help(staff_client: Client) -> None:
    experiment = ExperimentFactory()
    response = staff_client.get(reverse("corpus:experiment_settings", args=[experiment.slug]))
    html = response.content.decode()
    legends = re.findall(r"<legend>(.*?)</legend>", html)
    assert legends == [
        "Stimuli",
        "Corpus and clusters",
        "Session design",
        "Platform and pay",
        "Screening",
        "Adaptive collection",
    ]
    assert '<label for="id_target_lufs">Loudness (LUFS)</label>' in html
    assert "Cut from the middle of each track" in html
    assert 'aria-describedby="id_excerpt_seconds_helptext"' in html
    assert html.count('class="setting') >= 36  # every setting shown, none left out


def test_four_bad_values_are_all_shown_each_at_its_field(staff_client: Client) -> None:
    experiment = ExperimentFactory()
    url = reverse("corpus:experiment_settings", args=[experiment.slug])
    data = {k: "" if v is None else v for k, v in experiment.config.to_dict().items()}
    data = {k: v for k, v in data.items() if v is not False}
    data.update(
        {
            "n_clusters": "0",  # a value check
            "reward_usd": "free",  # a range check on write
            "target_lufs": "-90",  # another range check
            "votes_per_stimulus": "many",  # not a number: the field's own check
        }
    )
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert field_errors(response, "n_clusters") == ["Must be positive."]
    assert field_errors(response, "reward_usd") == ["Must be an amount in dollars like 0.50."]
    assert field_errors(response, "target_lufs") == ["Must be between -70 and 0 LUFS."]
    assert field_errors(response, "votes_per_stimulus") == ["Enter a whole number."]
    html = response.content.decode()
    assert "4 settings to correct" in html
    assert html.count("Must be positive.") == 1  # shown once, at its field
    assert 'aria-invalid="true"' in html
    experiment.refresh_from_db()
    assert experiment.config == ExperimentFactory.build().config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reward_usd", "abc", "reward_usd must be an amount in dollars like 0.50"),
        ("reward_usd", "0", "reward_usd must be more than 0"),
        ("bonus_usd", "-1", "bonus_usd must be an amount in dollars"),
        ("min_rater_pcc", "5", "min_rater_pcc must be between -1 and 1"),
        ("outlier_z", "-1", "outlier_z must be positive"),
        ("playback_tolerance_seconds", "100", "playback_tolerance_seconds must be at most 2"),
        ("session_timeout_minutes", "0", "session_timeout_minutes must be at least 1"),
        ("setup_repeat_minutes", "-10", "setup_repeat_minutes must not be negative"),
        ("adaptive_min_votes", "-4", "adaptive_min_votes must be at least 2"),
        ("adaptive_max_votes", "5", "adaptive_max_votes must be at least adaptive_min_votes"),
        ("seed", "99999999999999999999", "seed must be at most 2147483647"),
        ("comparisons_per_session", "1000", "comparisons_per_session must be at most 100"),
        ("gold_per_session", "11", "gold_per_session must be at most 10"),
    ],
)
def test_settings_that_would_break_the_test_are_refused(
    staff_client: Client, field: str, value: str, message: str
) -> None:
    """Each value is refused with its reason and nothing is saved, so the pages that read
    the settings (results, platform) keep working."""
    experiment = ExperimentFactory()
    url = reverse("corpus:experiment_settings", args=[experiment.slug])
    data = {k: v for k, v in experiment.config.to_dict().items() if v is not False}
    data = {**{k: "" if v is None else v for k, v in data.items()}, field: value}
    response = staff_client.post(url, data)
    expected = message.removeprefix(f"{field} ")
    assert response.status_code == 200
    assert any(
        error.startswith(expected[0].upper() + expected[1:])
        for error in field_errors(response, field)
    )
    experiment.refresh_from_db()
    assert experiment.config == ExperimentFactory.build().config
    for page in ("results:dashboard", "platforms:overview"):
        assert staff_client.get(reverse(page, args=[experiment.slug])).status_code == 200


def test_create_experiment_refuses_a_value_of_the_wrong_type() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"seed must be a whole number, got 1\.5"):
        call_command("create_experiment", "typed", "--name", "Typed", "--set", "seed=1.5")


def test_settings_stored_before_a_range_was_checked_still_load(staff_client: Client) -> None:
    """An experiment saved with values later refused (a float where a whole number is
    declared, a number for dollars, a range since narrowed) keeps working; saving its
    settings asks for the out-of-range one to be fixed."""
    experiment = ExperimentFactory(
        settings={"reward_usd": 0.75, "votes_per_stimulus": 10.0, "playback_tolerance_seconds": 3}
    )
    config = experiment.config
    assert (config.reward_usd, config.votes_per_stimulus) == ("0.75", 10)
    for page in ("corpus:experiment_settings", "results:dashboard", "platforms:overview"):
        assert staff_client.get(reverse(page, args=[experiment.slug])).status_code == 200
    url = reverse("corpus:experiment_settings", args=[experiment.slug])
    data = {k: "" if v is None else v for k, v in config.to_dict().items() if v is not False}
    response = staff_client.post(url, data)
    [error] = field_errors(response, "playback_tolerance_seconds")
    assert error.startswith("Must be at most 2")


def test_the_stimuli_page_says_which_stimuli_are_kept_for_rating(staff_client: Client) -> None:
    kept = StimulusFactory(role="rated", track__original_name="kept.wav")
    StimulusFactory(
        experiment=kept.experiment,
        track__experiment=kept.experiment,
        role="unused",
        track__original_name="left-out.wav",
    )
    page = staff_client.get(reverse("corpus:stimulus_list", args=[kept.experiment.slug]))
    kept_cell = {  # the fourth cell of each stimulus's row
        name: re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[3]
        for row in re.findall(r"<tr>(.*?)</tr>", page.content.decode(), re.S)
        for name in ("kept.wav", "left-out.wav")
        if name in row
    }
    assert kept_cell == {"kept.wav": "yes", "left-out.wav": ""}


def test_settings_a_design_was_built_with_stay_once_votes_are_collected(
    staff_client: Client,
) -> None:
    """The settings that shaped the sessions describe the votes collected on them: they
    are refused with the reason; screening and pay settings still change."""
    experiment = VoteFactory().experiment
    url = reverse("corpus:experiment_settings", args=[experiment.slug])
    before = experiment.config
    data = {k: "" if v is None else v for k, v in before.to_dict().items() if v is not False}
    response = staff_client.post(url, {**data, "votes_per_stimulus": 30, "n_clusters": 7})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Votes have already been collected on these sessions" in page
    assert "n_clusters, votes_per_stimulus; create a new experiment" in page
    experiment.refresh_from_db()
    assert experiment.config == before
    assert staff_client.post(url, {**data, "min_rater_pcc": 0.4}).status_code == 302
    experiment.refresh_from_db()
    assert experiment.config.min_rater_pcc == 0.4
