from django.urls import path

from . import views

app_name = "corpus"
urlpatterns = [
    path("", views.experiment_list, name="experiment_list"),
    path("<slug:slug>/", views.experiment_detail, name="experiment_detail"),
    path("<slug:slug>/settings/", views.experiment_settings, name="experiment_settings"),
    path("<slug:slug>/tracks/upload/", views.track_upload, name="track_upload"),
    path("<slug:slug>/tracks/versions/", views.track_versions, name="track_versions"),
    path("<slug:slug>/stimuli/", views.stimulus_list, name="stimulus_list"),
    path("<slug:slug>/stimuli/prepare/", views.stimuli_prepare_view, name="stimuli_prepare"),
    path("<slug:slug>/stimuli/cluster/", views.stimuli_cluster_view, name="stimuli_cluster"),
    path(
        "<slug:slug>/stimuli/<int:stimulus_id>/audio", views.stimulus_audio, name="stimulus_audio"
    ),
    path(
        "<slug:slug>/clusterings/<int:clustering_id>/plot.png",
        views.clustering_plot,
        name="clustering_plot",
    ),
]
