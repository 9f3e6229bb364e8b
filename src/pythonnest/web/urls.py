"""Human-facing URLs: the web UI, on PyPI's paths where PyPI has the page."""

from django.urls import path
from django.views.i18n import set_language

from pythonnest.web import account, manage, views

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("classifiers/", views.classifiers, name="classifiers"),
    path("recent/", views.recent, name="recent"),
    path("project/<str:name>/", views.project, name="project"),
    path("project/<str:name>/<str:version>/", views.release, name="release"),
    # Accounts.
    path("account/login/", account.login, name="login"),
    path("account/logout/", account.logout, name="logout"),
    path("account/register/", account.register, name="register"),
    path("account/password/", account.password_change, name="password-change"),
    # The account area: what a signed-in user manages.
    path("manage/projects/", manage.projects, name="manage-projects"),
    path("manage/account/token/", manage.tokens, name="manage-tokens"),
    path("manage/project/<str:name>/", manage.project, name="manage-project"),
    path("manage/project/<str:name>/release/<str:version>/", manage.release, name="manage-release"),
    path("i18n/setlang/", set_language, name="set_language"),
]
