from django.urls import path

from . import views

app_name = "design"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("build/", views.build, name="build"),
    path("prompts/upload/", views.prompt_upload_view, name="prompt_upload"),
    path("prompts/<str:key>/reset/", views.prompt_reset_view, name="prompt_reset"),
    path("prompts/<str:key>/audio", views.prompt_audio, name="prompt_audio"),
]
