"""Fixtures the account tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def mail(mailoutbox, django_capture_on_commit_callbacks):
    """The outbox; every e-mail queued inside the block is sent when it ends."""

    class Outbox:
        def __init__(self):
            self.messages = mailoutbox

        def __call__(self):
            return django_capture_on_commit_callbacks(execute=True)

    return Outbox()
