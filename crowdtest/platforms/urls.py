from django.urls import path

from . import views

app_name = "platforms"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("choose/", views.choose, name="choose"),
    path("sync/", views.sync, name="sync"),
    path("pay/", views.pay, name="pay"),
    path("pay/confirm/", views.pay_confirm, name="pay_confirm"),
    path("publish/", views.publish, name="publish"),
    path("publish/confirm/", views.publish_confirm, name="publish_confirm"),
    path(
        "publications/<int:pk>/<slug:action>/confirm/",
        views.control_confirm,
        name="control_confirm",
    ),
    path("publications/<int:pk>/<slug:action>/", views.control, name="control"),
]
