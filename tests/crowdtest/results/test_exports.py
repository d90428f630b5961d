"""The Vinylset CSV export and import, raters.csv and verdicts.csv, who may download
them, and formula neutralisation."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from crowdtest.corpus.models import Experiment, Stimulus, Track
from crowdtest.exports import export_one
from crowdtest.results.exports import MOS_COLUMNS
from crowdtest.results.models import StimulusMOS
from crowdtest.results.services import ResultsError, experiment_screen, vinylset_import
from crowdtest.results.services.vinylset import PLACEHOLDER_ERROR, track_name
from tests.factories import RaterFactory, StimulusFactory

from .builders import make_stimuli, take_session

VINYLSET = Path(__file__).resolve().parents[2] / "data" / "vinylset_MOS.csv"
VINYLSET_COLUMNS = ["filename", "label", "c", "mosgroup", "CI", "std"]


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_importing_vinylset_and_exporting_gives_back_its_columns(
    experiment: Experiment, tmp_path: Path
) -> None:
    call_command("import_vinylset", "vinyl", str(VINYLSET))
    text = export_one(experiment, "mos.csv")
    assert text.splitlines()[0].split(",")[:6] == VINYLSET_COLUMNS
    assert tuple(text.splitlines()[0].split(",")) == MOS_COLUMNS
    original = _csv(VINYLSET.read_text())
    exported = _csv(text)
    assert len(exported) == len(original) == 620
    # Same strings, in the file's order.
    assert [[r[c] for c in VINYLSET_COLUMNS] for r in exported] == [
        [r[c] for c in VINYLSET_COLUMNS] for r in original
    ]
    first = exported[0]
    assert (first["n"], first["cluster"], first["source"]) == ("17", "2", "imported")
    # t(0.975, 16) = 2.1199053 instead of 1.96, on the same std and n.
    assert float(first["ci95_t"]) == pytest.approx(
        float(first["CI"]) * 2.1199052992210112 / 1.96, rel=1e-9
    )
    assert first["codec"].startswith("HE-AAC") and first["bitrate_kbps"] == "320"


def test_importing_again_updates_and_creates_nothing_new(experiment: Experiment) -> None:
    text = VINYLSET.read_text()
    first = vinylset_import(experiment=experiment, text=text)
    second = vinylset_import(experiment=experiment, text=text)
    assert (first.placeholders, second.placeholders, second.matched) == (620, 0, 620)
    assert Track.objects.filter(experiment=experiment).count() == 620
    assert StimulusMOS.objects.filter(experiment=experiment).count() == 620
    placeholder = Stimulus.objects.filter(experiment=experiment).first()
    assert placeholder is not None
    assert placeholder.status == "failed" and placeholder.track.error == PLACEHOLDER_ERROR


def test_labels_go_onto_existing_tracks_by_name(experiment: Experiment) -> None:
    stimulus = StimulusFactory(
        track__experiment=experiment, track__original_name="0102WhyWasIBorn.flac", cluster=2
    )
    header = ",".join(VINYLSET_COLUMNS)
    row = "2a/0102WhyWasIBorn_sample_aache320_ln_C2.wav,3.82353,2,Q8,0.25,0.53"
    report = vinylset_import(experiment=experiment, text=f"{header}\n{row}\n")
    assert (report.matched, report.placeholders) == (1, 0)
    assert StimulusMOS.objects.get().stimulus == stimulus
    assert track_name("3a/ALeftfieldInspectionCheckOne_aache320_ln_C3.wav") == (
        "ALeftfieldInspectionCheckOne"
    )


def test_a_file_without_classes_gets_the_15_classes_of_its_labels(experiment: Experiment) -> None:
    original = _csv(VINYLSET.read_text())
    lines = ["filename,label,c,mosgroup,CI,std"] + [
        f"{r['filename']},{r['label']},{r['c']},,{r['CI']},{r['std']}" for r in original
    ]
    vinylset_import(experiment=experiment, text="\n".join(lines))
    exported = _csv(export_one(experiment, "mos.csv"))
    assert [r["mosgroup"] for r in exported] == [r["mosgroup"] for r in original]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("filename,label\nx.wav,3\n", "missing column(s) c, mosgroup, CI, std"),
        ("filename,label,c,mosgroup,CI,std\n", "has no rows"),
        ("filename,label,c,mosgroup,CI,std\nx.wav,7,0,Q1,0.3,0.5\n", "line 2: label 7.0"),
        ("filename,label,c,mosgroup,CI,std\nx.wav,3,0,Q1,abc,0.5\n", "line 2: could not"),
        ("filename,label,c,mosgroup,CI,std\nx.wav,3,0,bad,0.3,0.5\n", "mosgroup 'bad'"),
        (
            "filename,label,c,mosgroup,CI,std\nx.wav,3,0,Q1,0.3,0.5\nx.wav,3,0,Q1,0.3,0.5\n",
            "line 3: x.wav appears twice",
        ),
    ],
)
def test_a_bad_vinylset_file_is_refused_with_its_line(
    experiment: Experiment, text: str, message: str
) -> None:
    with pytest.raises(ResultsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        vinylset_import(experiment=experiment, text=text)
    assert not Track.objects.exists()


def test_the_import_command_reports_errors_plainly(experiment: Experiment, tmp_path: Path) -> None:
    bad = tmp_path / "labels.csv"
    bad.write_text("filename,label\n")
    with pytest.raises(CommandError, match="Not a Vinylset CSV"):
        call_command("import_vinylset", "vinyl", str(bad))
    with pytest.raises(CommandError, match="Can't read"):
        call_command("import_vinylset", "vinyl", str(tmp_path / "missing.csv"))


def test_formula_like_cells_are_neutralised(experiment: Experiment) -> None:
    [stimulus] = make_stimuli(experiment, 1, track__title='=HYPERLINK("http://evil","x")')
    rater = RaterFactory(experiment=experiment, external_id="@SUM(A1:A2)")
    take_session(rater=rater, stimuli=[stimulus, stimulus], scores=[2, 4])
    call_command("compute_mos", "vinyl")
    [row] = _csv(export_one(experiment, "mos.csv"))
    assert row["title"] == '\'=HYPERLINK("http://evil","x")'
    assert row["lufs"] == "-23.0"  # numbers stay numbers
    [rater_row] = _csv(export_one(experiment, "raters.csv"))
    assert rater_row["platform_id"] == "'@SUM(A1:A2)"


def test_raters_and_sessions_csv_carry_verdicts_and_reasons(experiment: Experiment) -> None:
    stimuli = make_stimuli(experiment, 3)
    rater = RaterFactory(experiment=experiment, external_id="A1B2")
    take_session(rater=rater, stimuli=stimuli, scores=[1, 3, 5])
    take_session(rater=rater, stimuli=stimuli, scores=[2, 2, 2], math_given=9)
    experiment_screen(experiment=experiment)
    [row] = _csv(export_one(experiment, "raters.csv"))
    assert (row["platform_id"], row["sessions_completed"]) == ("A1B2", "2")
    assert (row["sessions_valid"], row["sessions_invalid"]) == ("1", "1")
    assert row["reasons"] == "low_variance:1; math_wrong:1"
    assert row["rating_votes"] == "6"
    sessions = _csv(export_one(experiment, "verdicts.csv"))
    assert [s["verdict"] for s in sessions] == ["valid", "invalid"]
    assert sessions[1]["reasons"] == "math_wrong; low_variance"


def test_export_experiment_writes_the_results_files(experiment: Experiment, tmp_path: Path) -> None:
    call_command("import_vinylset", "vinyl", str(VINYLSET))
    call_command("export_experiment", "vinyl", str(tmp_path))
    assert {"mos.csv", "raters.csv", "verdicts.csv", "sessions.csv", "export.json"} <= {
        p.name for p in tmp_path.iterdir()
    }
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert "mos.csv" in manifest["files"] and manifest["settings"]["reward_usd"] == "0.50"


# --- Who may download -----------------------------------------------------------------


def _url(name: str = "mos.csv") -> str:
    return reverse("results:export_file", args=["vinyl", name])


@pytest.fixture
def exporter(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user(username="exporter", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="export_experiment"))
    return user


@pytest.mark.parametrize("url", [_url, lambda: reverse("results:export_zip", args=["vinyl"])])
def test_a_rater_or_staff_without_permission_cannot_download(
    client: Client,
    experiment: Experiment,
    staff_user: User,
    django_user_model: type[User],
    url: Callable[[], str],
) -> None:
    assert client.get(url()).status_code == 403  # a rater: no account at all
    client.force_login(django_user_model.objects.create_user(username="rater-with-account"))
    assert client.get(url()).status_code == 403
    client.force_login(staff_user)
    refused = client.get(url())
    # Said on a page: what is missing.
    assert refused.status_code == 403
    assert "This needs the permission corpus.export_experiment" in refused.content.decode()


def test_staff_with_the_permission_and_admins_can_download(
    client: Client, experiment: Experiment, exporter: User, admin_user: User
) -> None:
    vinylset_import(experiment=experiment, text=VINYLSET.read_text())
    for user in (exporter, admin_user):
        client.force_login(user)
        response = client.get(_url())
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        disposition = response["Content-Disposition"]
        assert disposition.startswith('attachment; filename="vinyl_settings-')
        assert "_code-" in disposition and disposition.endswith('_mos.csv"')
        assert response.content.decode().startswith("filename,label,c,mosgroup,CI,std,")
    assert client.get(_url("nothing.csv")).status_code == 404


def test_the_zip_holds_every_file_and_the_settings_and_code_version(
    client: Client, experiment: Experiment, exporter: User
) -> None:
    client.force_login(exporter)
    response = client.get(reverse("results:export_zip", args=["vinyl"]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = {Path(n).name for n in archive.namelist()}
    assert {
        "mos.csv",
        "raters.csv",
        "verdicts.csv",
        "sessions.csv",
        "tracks.csv",
        "export.json",
    } <= names
    [manifest_name] = [n for n in archive.namelist() if n.endswith("export.json")]
    manifest = json.loads(archive.read(manifest_name))
    assert manifest["experiment"] == "vinyl" and manifest["code_version"]
    assert manifest["settings"] == experiment.config.to_dict()
    assert response["Content-Disposition"].endswith('.zip"')
