"""``syncdb``: the original's name for ``migrate``."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or upgrade the database tables (the same as 'migrate', kept from the original PythonNest)."

    def add_arguments(self, parser):
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive", help="Never prompt.")

    def handle(self, *args, **options):
        call_command("migrate", interactive=options["interactive"], verbosity=options["verbosity"])
