from django.urls import path

from . import views

app_name = "results"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("live.json", views.live, name="live"),
    path("raters/", views.raters_live_page, name="raters_live"),
    path("raters.json", views.raters_live_json, name="raters_live_json"),
    path("refresh/", views.refresh, name="refresh"),
    path("mos/", views.mos_list, name="mos_list"),
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/<int:assignment_id>/override/", views.session_override, name="override"),
    path("plots/mos.png", views.plot_mos, name="plot_mos"),
    path("plots/progress.png", views.plot_progress, name="plot_progress"),
    path("exports/all.zip", views.export_zip, name="export_zip"),
    path("exports/<str:name>", views.export_download, name="export_file"),
]
