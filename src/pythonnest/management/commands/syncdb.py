"""``syncdb``: the original's name for ``migrate``."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

# MySQL and MariaDB compare text by the database's collation. A
# case-insensitive one ("utf8mb4_general_ci", MariaDB's default) would make
# "Foo-1.0.tar.gz" and "foo-1.0.tar.gz" the same filename to a unique
# index, and sort names in an order Python does not: PythonNest compares
# names and filenames byte for byte, as PyPI does.
BINARY_COLLATION = "utf8mb4_bin"


def check_collation() -> None:
    """Raise CommandError when a MySQL or MariaDB database would compare text other than byte for byte."""
    if connection.vendor != "mysql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT DATABASE(), @@character_set_database, @@collation_database")
        name, charset, collation = cursor.fetchone()
    if charset != "utf8mb4" or not collation.endswith("_bin"):
        raise CommandError(
            f"the database {name} uses {charset} with the collation {collation}; PythonNest needs utf8mb4 "
            f"compared byte for byte: run ALTER DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE {BINARY_COLLATION} "
            "before syncdb creates the tables (see docs/configuration.md)"
        )


class Command(BaseCommand):
    help = (
        "Create or upgrade the database tables (the same as 'migrate', kept from the original PythonNest). "
        f"On MySQL and MariaDB, the database must use utf8mb4 with a binary collation ({BINARY_COLLATION})."
    )

    def add_arguments(self, parser):
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive", help="Never prompt.")

    def handle(self, *args, **options):
        check_collation()
        call_command("migrate", interactive=options["interactive"], verbosity=options["verbosity"])
