"""``manage.py cleartokensbatched``: delete expired codes and tokens in short transactions."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from oauth import cleanup


class Command(BaseCommand):
    help = (
        "Delete expired authorization codes and access, refresh and ID tokens, one short "
        "transaction per primary-key range; safe while the server runs (the beat task "
        "oauth.clear_expired_tokens does this hourly). Replaces DOT's cleartokens."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=cleanup.BATCH_SIZE,
            help="Ids per transaction (default %(default)s).",
        )

    def handle(self, *args, batch_size, **options):
        report = cleanup.clear_expired_tokens(batch_size=max(1, batch_size))
        counts = ", ".join(f"{count} {kind}" for kind, count in report.deleted.items())
        self.stdout.write(
            f"Deleted {counts or 'nothing'} in {report.batches} batches "
            f"(longest {report.longest_batch_seconds * 1000:.0f} ms, "
            f"{report.skipped_batches} skipped on a lock)."
        )
