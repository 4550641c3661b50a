"""accounts' operations: one module per flow, one public function per operation.

Views, the admin, management commands and (later) the management API call
these; each function is one transaction and one audit event, with side effects
(mail, token revocation through signals) after commit. See docs/architecture.md.
"""
