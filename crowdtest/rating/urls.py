from django.urls import path

from . import views

app_name = "rating"
urlpatterns = [
    path("clip/<str:key>", views.clip, name="clip"),
    path("<slug:slug>/", views.take, name="take"),
]
