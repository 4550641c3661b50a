"""``manage.py prunesignins``: delete sign-in locks and failure records past their use."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import lockout, sessions


class Command(BaseCommand):
    help = (
        "Delete sign-in locks and failed sign-in records whose use has ended, kept "
        "AUTHSITE_SIGNIN_RECORD_RETENTION_DAYS beyond it, expired sessions and the rows "
        "of ended sessions (the beat task accounts.prune_sign_in_records does this daily)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=lockout.PRUNE_BATCH_SIZE,
            help="Rows deleted per statement (default %(default)s).",
        )

    def handle(self, *args, batch_size, **options):
        batch_size = max(1, batch_size)
        counts = lockout.prune_records(batch_size=batch_size)
        counts.update(sessions.prune_ended_sessions(batch_size=batch_size))
        self.stdout.write(
            f"Deleted {counts['locks']} sign-in locks, {counts['failures']} failed sign-ins, "
            f"{counts['fallback_counters']} fallback counters, "
            f"{counts['expired_sessions']} expired sessions "
            f"and {counts['session_rows']} rows of ended sessions."
        )
