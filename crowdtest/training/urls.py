from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("<int:run_id>/", views.run_detail, name="run_detail"),
    path("<int:run_id>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("<int:run_id>/resume/", views.run_resume_view, name="run_resume"),
    path("<int:run_id>/plots/<slug:name>.png", views.run_plot, name="run_plot"),
    path("<int:run_id>/score/", views.scoring_start_view, name="scoring_start"),
    path("scores/<int:scoring_id>.csv", views.scoring_download, name="scoring_download"),
]
