from django.urls import path, re_path

from . import api

app_name = "api"
urlpatterns = [
    path("state", api.state, name="state"),
    path("consent", api.consent, name="consent"),
    path("setup", api.setup, name="setup"),
    path("questions", api.questions, name="questions"),
    path("play", api.play, name="play"),
    path("rate", api.rate, name="rate"),
    path("finish", api.finish, name="finish"),
    path("openapi.json", api.openapi, name="openapi"),
    re_path(r"^.*$", api.not_found),
]
