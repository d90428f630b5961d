"""Every tab of an experiment fits a phone's width in Chromium: a wide table scrolls
inside its card instead of widening the page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from crowdtest.results.models import StimulusMOS
from tests.crowdtest.rating.designs import make_design

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_tab_fits_a_phone(page: Page, live_server: LiveServer, staff_user: User) -> None:
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
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/login/?next=/experiments/{experiment.slug}/")
    page.fill("#id_username", "experimenter")
    page.fill("#id_password", "listen-carefully-42")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("nav.tabs, .tabs")
    tabs = page.eval_on_selector_all(".tabs a[href]", "links => links.map(a => a.href)")
    pages = [*tabs, f"{live_server.url}/experiments/{experiment.slug}/results/mos/"]
    assert len(pages) >= 7
    wide = {}
    for url in pages:
        page.goto(url)
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:  # name what overflows, outside the tables that scroll
            wide[url] = page.evaluate(
                """[...document.querySelectorAll('main *')]
                  .filter(e => !e.closest('.table-scroll') && e.scrollWidth > e.clientWidth + 2)
                  .map(e => `${e.tagName}#${e.id} ${e.scrollWidth}/${e.clientWidth}`)"""
            )
    assert wide == {}
