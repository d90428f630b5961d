"""`{% direct_links experiment %}`: the Sessions tab's direct links and the form that makes
them, rendered by the rating app that owns them, so design's views need not know them."""

from __future__ import annotations

from typing import Any

from django import template

from crowdtest.corpus.models import Experiment
from crowdtest.rating.forms import LinksForm
from crowdtest.rating.links import link_rows

register = template.Library()


@register.inclusion_tag("rating/_direct_links.html", takes_context=True)
def direct_links(context: template.Context, experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment": experiment,
        "links": link_rows(experiment=experiment),
        "links_form": LinksForm(),
        "csrf_token": context.get("csrf_token"),
    }
