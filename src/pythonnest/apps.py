from django.apps import AppConfig


class PythonNestConfig(AppConfig):
    name = "pythonnest"
    label = "pythonnest"
    verbose_name = "PythonNest"
    default_auto_field = "django.db.models.BigAutoField"
