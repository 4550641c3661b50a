"""Roles and permissions (filled in by the RBAC issue)."""
