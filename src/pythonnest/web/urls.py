"""Human-facing URLs: the web UI."""

from django.urls import path

from pythonnest.web import views

urlpatterns = [
    path("", views.home, name="home"),
]
