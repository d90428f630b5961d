from django.urls import path

from . import staff_views

app_name = "links"
urlpatterns = [
    path("", staff_views.links_create_view, name="create"),
]
