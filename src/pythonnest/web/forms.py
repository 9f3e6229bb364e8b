"""The web UI's forms: they check what a person typed; the views hand the result to ``core``."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _

from pythonnest.core.access import MAINTAINER, OWNER
from pythonnest.core.models import Project


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autofocus=True, autocomplete="username")
        self.fields["password"].widget.attrs.update(autocomplete="current-password")


class RegistrationForm(UserCreationForm):
    """Django's own checks (a free username, the password validators), plus an email address."""

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True


class TokenForm(forms.Form):
    """A new API token: for every project of the user, or for one they hold a role on."""

    description = forms.CharField(label=_("Description"), max_length=100, required=False)
    project = forms.ChoiceField(label=_("Scope"), required=False)

    def __init__(self, user: AbstractBaseUser, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.projects = {project.normalized_name: project for project in Project.objects.filter(roles__user=user)}
        choices = [("", _("All your projects"))]
        choices += [(normalized, project.name) for normalized, project in sorted(self.projects.items())]
        self.fields["project"].choices = choices

    def clean_project(self) -> Project | None:
        return self.projects.get(self.cleaned_data["project"]) if self.cleaned_data["project"] else None


ROLE_CHOICES = [(OWNER.value, _("Owner")), (MAINTAINER.value, _("Maintainer"))]


class RoleForm(forms.Form):
    """Give a user a role on a project, or change the one they have."""

    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES, initial=MAINTAINER.value)


class YankForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), required=False, max_length=1000)
