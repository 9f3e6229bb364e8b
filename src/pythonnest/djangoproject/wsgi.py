"""WSGI entry point: ``gunicorn pythonnest.djangoproject.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pythonnest.djangoproject.settings")

application = get_wsgi_application()
