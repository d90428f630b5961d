from django.contrib import admin

from .models import ModelFold, ModelRun, ScoringRun, ScoringShard


class ModelFoldInline(admin.TabularInline[ModelFold, ModelRun]):
    model = ModelFold
    extra = 0
    can_delete = False
    fields = ("index", "status", "epochs_run", "best_epoch", "best_val_loss", "tau", "metrics")
    readonly_fields = fields


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin[ModelRun]):
    list_display = ("id", "experiment", "kind", "status", "n_items", "code_version", "created_at")
    list_filter = ("kind", "status", "experiment")
    search_fields = ("config", "labels_fingerprint", "error")
    readonly_fields = [f.name for f in ModelRun._meta.fields]
    exclude = ("labels",)
    inlines = [ModelFoldInline]


class ScoringShardInline(admin.TabularInline[ScoringShard, ScoringRun]):
    """Which worker process took each shard, and how often one died on it."""

    model = ScoringShard
    extra = 0
    can_delete = False
    fields = ("index", "start", "status", "n_scored", "n_failed", "restarts", "worker")
    readonly_fields = fields


@admin.register(ScoringRun)
class ScoringRunAdmin(admin.ModelAdmin[ScoringRun]):
    list_display = ("id", "run", "source", "status", "n_files", "n_shards", "n_scored", "n_failed")
    list_filter = ("status",)
    readonly_fields = [f.name for f in ScoringRun._meta.fields]
    inlines = [ScoringShardInline]
