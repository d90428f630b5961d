from django.urls import path

from . import views

app_name = "jobs"
urlpatterns = [
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/status.json", views.job_status, name="status"),
    path("<int:job_id>/cancel/", views.job_cancel, name="cancel"),
]
