"""The append-only audit trail (filled in by the audit issue)."""
