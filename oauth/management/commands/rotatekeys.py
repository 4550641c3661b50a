"""``manage.py rotatekeys``: rotate the signing keys now, or check what is due."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError

from oauth import keys
from oauth.exceptions import SigningKeyUnavailableError


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
            "--discard-unreadable",
            action="store_true",
            help=(
                "Only if AUTHSITE_KEY_ENCRYPTION_SECRET was lost: take the keys this secret "
                "cannot decrypt out of service and create new ones. Every instance must then "
                "use this instance's secret."
            ),
        )
        parser.add_argument(
            "--algorithm",
            help=f"Only this algorithm: {', '.join(keys.SUPPORTED_ALGORITHMS)} (default: all).",
        )

    def handle(self, *args, **options):
        if options["discard_unreadable"]:
            for line in keys.discard_unreadable_keys() or ["no unreadable keys"]:
                self.stdout.write(line)
            return
        algorithm = options["algorithm"]
        if algorithm is not None:
            algorithm = algorithm.upper()
            if algorithm not in keys.SUPPORTED_ALGORITHMS:
                raise CommandError(
                    f"Unknown algorithm {options['algorithm']!r}; "
                    f"use one of {', '.join(keys.SUPPORTED_ALGORITHMS)}."
                )
        try:
            with quiet_info(keys.logger):
                lines = keys.rotate_signing_keys(force=options["force"], algorithm=algorithm)
        except SigningKeyUnavailableError as exc:
            raise CommandError(exc.message) from None
        for line in lines or ["nothing to rotate"]:
            self.stdout.write(line)


@contextmanager
def quiet_info(logger: logging.Logger):
    """Drop ``logger``'s lines below WARNING for a while.

    ``rotate_signing_keys`` logs each change for servers and the scheduler; here the
    command prints the same lines as its report, and on a terminal (stderr and
    stdout together) every line would show twice. Warnings and errors still show.
    """

    def below_warning(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    logger.addFilter(below_warning)
    try:
        yield
    finally:
        logger.removeFilter(below_warning)
