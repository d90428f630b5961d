from django.urls import URLPattern, URLResolver

app_name = "design"
urlpatterns: list[URLPattern | URLResolver] = []
