from django.urls import URLPattern, URLResolver

app_name = "rating"
urlpatterns: list[URLPattern | URLResolver] = []
