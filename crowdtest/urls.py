from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

admin.site.site_header = "crowdtest administration"
admin.site.site_title = "crowdtest"

# Media files are never served as plain files: raters get audio through signed, opaque
# URLs and staff through authenticated views, so a file's name reveals nothing.
urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page says; the icon is a static file.
    # (Its URL is found at the first request: the static files' manifest may not exist yet.)
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"))),
    path("jobs/", include("crowdtest.jobs.urls")),
    # Staff pages of an experiment, one app per tab.
    path("experiments/", include("crowdtest.corpus.urls")),
    path("experiments/<slug:slug>/sessions/", include("crowdtest.design.urls")),
    path("experiments/<slug:slug>/raters/", include("crowdtest.rating.staff_urls")),
    path("experiments/<slug:slug>/platform/", include("crowdtest.platforms.urls")),
    path("experiments/<slug:slug>/results/", include("crowdtest.results.urls")),
    path("experiments/<slug:slug>/models/", include("crowdtest.training.urls")),
    # The rater's side: pages, the JSON API and signed audio.
    path("api/", include("crowdtest.rating.api_urls")),
    path("take/", include("crowdtest.rating.urls")),
    path("", include("crowdtest.staff.urls")),
]
