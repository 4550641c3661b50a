"""``manage.py audit export|verify|prune|seal``: the operator's side of the audit trail."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit import export, integrity, retention
from audit.models import AuditEvent
from common.conf import authsite_settings


def moment(value: str) -> datetime:
    """An ISO 8601 date or date-time; naive values are UTC."""
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{value!r} is not a date (YYYY-MM-DD) or ISO 8601 date-time.")
        parsed = datetime.combine(day, time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


class Progress:
    """A one-line counter on a terminal's stderr; silent when stderr is not a terminal."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream, self.done = total, stream or sys.stderr, 0
        self.enabled = self.stream.isatty()

    def step(self, count: int = 1) -> None:
        self.done += count
        if self.enabled and (self.done % 1000 == 0 or self.done == self.total):
            percent = 100 * self.done // max(self.total, 1)
            self.stream.write(f"\r{self.done}/{self.total} events ({percent}%)")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Export, verify, seal or prune the audit trail."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        export = sub.add_parser("export", help="Stream events as JSON Lines or CSV.")
        export.add_argument("--since", type=moment, help="From this date-time (inclusive, UTC).")
        export.add_argument("--until", type=moment, help="Up to this date-time (exclusive, UTC).")
        export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        export.add_argument("--output", "-o", help="Write to this file instead of stdout.")
        sub.add_parser("verify", help="Report the first altered, inserted or missing event.")
        sub.add_parser("seal", help="Seal events older than the grace period now.")
        prune = sub.add_parser("prune", help="Export, then remove, events older than DAYS.")
        prune.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        prune.add_argument("--export-dir", help="Where the exported file goes.")

    def handle(self, *args, subcommand, **options):
        return getattr(self, f"handle_{subcommand}")(**options)

    def handle_export(self, *, since, until, format, output, **options):
        events = AuditEvent.objects.all()
        if since:
            events = events.filter(occurred_at__gte=since)
        if until:
            events = events.filter(occurred_at__lt=until)
        lines = export.iter_csv(events) if format == "csv" else export.iter_jsonl(events)
        progress = Progress(events.count()) if sys.stderr.isatty() else None
        stream = open(output, "w", encoding="utf-8", newline="") if output else self.stdout._out
        try:
            for line in lines:
                stream.write(line)
                if progress and not line.startswith("id,occurred_at,"):
                    progress.step()
        finally:
            if output:
                stream.close()
            if progress:
                progress.close()

    def handle_verify(self, **options):
        report = integrity.verify()
        if report.ok:
            self.stdout.write(
                f"audit trail intact: {report.events_checked} events, "
                f"{report.seals_checked} seals checked"
            )
            return
        problem = report.problem
        raise CommandError(f"audit trail NOT intact: {problem.kind}: {problem.message}")

    def handle_seal(self, **options):
        seal = integrity.seal_events()
        self.stdout.write(f"sealed {seal}" if seal else "nothing to seal")

    def handle_prune(self, *, older_than, export_dir, **options):
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        result = retention.prune(
            older_than_days=older_than,
            export_dir=export_dir or authsite_settings.AUDIT_EXPORT_DIR,
        )
        if not result.removed:
            self.stdout.write("nothing to prune")
            return
        self.stdout.write(
            f"exported and removed {result.removed} events (up to id {result.up_to_id}) "
            f"to {result.path}"
        )
