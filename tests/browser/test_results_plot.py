"""The Results tab's plots, in Chromium. The MOS plot: a point is coloured by its cluster,
hovering it shows its track, MOS, CI, n and cluster, clicking it plays the stimulus, and
the cluster filter keeps only that cluster's stimuli. A comparison test's plot names its
pairs on its axis. Chart.js comes from our static files."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from crowdtest.results.comparisons import comparison_points
from crowdtest.results.models import StimulusMOS
from crowdtest.results.services.mos import results_refresh
from tests.crowdtest.rating.comparison_designs import comparison_experiment, design_comparison
from tests.crowdtest.rating.designs import make_design
from tests.crowdtest.rating.test_comparison_sessions import crowd_take

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hover_click_and_filter_on_the_mos_plot(
    page: Page, live_server: LiveServer, staff_user: User
) -> None:
    built = make_design(n_clusters=3, size=4)
    experiment = built.experiment
    for i, stimulus in enumerate(built.rated):
        StimulusMOS.objects.create(
            experiment=experiment,
            stimulus=stimulus,
            source=StimulusMOS.Source.COMPUTED,
            mos=1.2 + 0.3 * i,
            n=10 + i,
            ci95_normal=0.4,
            mosgroup=f"Q{i % 3 + 1}",
            computed_at=timezone.now(),
        )
    lowest = built.rated[0]
    page.goto(f"{live_server.url}/login/?next=/experiments/{experiment.slug}/results/")
    page.fill("#id_username", "experimenter")
    page.fill("#id_password", "listen-carefully-42")
    page.click("#login-form button[type=submit]")
    # The scripts are deferred: wait until Chart.js has drawn the chart.
    page.wait_for_function("() => document.getElementById('mos-chart')?.chart !== undefined")
    assert page.evaluate("typeof window.Chart") == "function"
    page.locator("#mos-explore").scroll_into_view_if_needed()
    point = page.evaluate(
        """() => {
          const chart = document.getElementById('mos-chart').chart;
          const set = chart.data.datasets.findIndex(d => !d.ci && d.points.some(p => p.rank === 1));
          const index = chart.data.datasets[set].points.findIndex(p => p.rank === 1);
          const e = chart.getDatasetMeta(set).data[index];
          return {x: e.x, y: e.y, colour: chart.data.datasets[set].backgroundColor};
        }"""
    )
    box = page.locator("#mos-chart").bounding_box()
    assert box is not None  # the chart is shown
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_selector("#mos-tooltip:not(:empty)")
    text = page.text_content("#mos-tooltip") or ""
    assert str(lowest.track) in text
    assert "MOS 1.200" in text and "± 0.400" in text and "n = 10" in text
    assert f"cluster {lowest.cluster}" in text
    assert point["colour"] == "#1f4e9c"  # cluster 0's colour

    audio_url = f"/experiments/{experiment.slug}/stimuli/{lowest.pk}/audio"
    with page.expect_response(lambda r: r.url.endswith(audio_url)) as served:
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    assert served.value.status == 200
    assert page.get_attribute("#mos-audio", "src") == audio_url

    page.select_option("#mos-cluster", "2")
    assert page.text_content("#mos-count") == "4 of 12 stimuli"
    page.select_option("#mos-cluster", "")
    page.select_option("#mos-group", "Q1")
    assert page.text_content("#mos-count") == "4 of 12 stimuli"


def test_the_comparison_plot_names_its_pairs_on_its_axis(
    page: Page, live_server: LiveServer, staff_user: User, client: Client
) -> None:
    """A DCR test's plot: one point per pair, sorted by DMOS, each named under the axis
    (cut short; the tooltip and the table give the whole name)."""
    built = comparison_experiment("dcr", qualities=(4.5, 3.5, 2.0), votes=4, per_session=4)
    design_comparison(built)
    sessions = built.experiment.sessions.filter(kind="rating").count()
    crowd_take(client, built, honest=sessions, random=0)
    results_refresh(experiment=built.experiment)
    plotted = comparison_points(experiment=built.experiment)["pairs"]
    assert isinstance(plotted, list) and len(plotted) == 2
    names = [p["name"] for p in sorted(plotted, key=lambda p: p["mean"])]
    page.goto(f"{live_server.url}/login/?next=/experiments/{built.experiment.slug}/results/")
    page.fill("#id_username", "experimenter")
    page.fill("#id_password", "listen-carefully-42")
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('comparison-chart')?.chart !== undefined")
    labels = page.evaluate(
        "() => document.getElementById('comparison-chart').chart.scales.x.ticks"
        ".map(t => t.label).filter(l => l)"
    )
    assert names[0] == "work/v2.wav vs work/v0.wav"  # the worse version: the lower DMOS
    assert labels == [name[:21] + "…" for name in names]
