from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "crowdtest administration"
admin.site.site_title = "crowdtest"

# Media files are never served as plain files: raters get audio through signed, opaque
# URLs and staff through authenticated views, so a file's name reveals nothing.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("jobs/", include("crowdtest.jobs.urls")),
    path("experiments/", include("crowdtest.corpus.urls")),
    path("", include("crowdtest.staff.urls")),
]
