from django.urls import path

from . import staff_views

app_name = "rating_staff"
urlpatterns = [
    path("preview/", staff_views.preview, name="preview"),
    path("links/", staff_views.links_create_view, name="links_create"),
    path("release/", staff_views.release_view, name="release"),
]
