"""``manage.py rotatekeys``: rotate the signing keys now, or check what is due."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from oauth import keys


class Command(BaseCommand):
    help = (
        "Rotate signing keys older than AUTHSITE_SIGNING_KEY_ROTATION_DAYS and retire "
        "previous keys whose tokens have all expired. --force promotes the next key now."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Promote the next key now, whatever its age."
        )
        parser.add_argument(
            "--algorithm",
            help=f"Only this algorithm: {', '.join(keys.SUPPORTED_ALGORITHMS)} (default: all).",
        )

    def handle(self, *args, **options):
        algorithm = options["algorithm"]
        if algorithm is not None:
            algorithm = algorithm.upper()
            if algorithm not in keys.SUPPORTED_ALGORITHMS:
                raise CommandError(
                    f"Unknown algorithm {options['algorithm']!r}; "
                    f"use one of {', '.join(keys.SUPPORTED_ALGORITHMS)}."
                )
        lines = keys.rotate_signing_keys(force=options["force"], algorithm=algorithm)
        for line in lines or ["nothing to rotate"]:
            self.stdout.write(line)
