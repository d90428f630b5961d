from django.contrib import admin

from .models import Clustering, Experiment, Stimulus, Track


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin[Experiment]):
    list_display = ("slug", "name", "created_by", "created_at")
    search_fields = ("slug", "name")


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin[Track]):
    list_display = ("id", "experiment", "original_name", "duration_s", "sample_rate", "error")
    list_filter = ("experiment",)
    search_fields = ("original_name", "title", "artist", "checksum")


@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin[Stimulus]):
    list_display = ("id", "experiment", "track", "status", "cluster", "role", "codec")
    list_filter = ("experiment", "status", "role")
    exclude = ("features",)


@admin.register(Clustering)
class ClusteringAdmin(admin.ModelAdmin[Clustering]):
    list_display = ("id", "experiment", "algorithm", "n_clusters", "silhouette", "is_current")
