"""Retention of per-attempt sign-in rows: locks, failed sign-ins, fallback counters, and
expired sessions with their account-page rows.

ASVS 14.2.x (data kept no longer than needed): the daily beat task and
``manage.py prunesignins`` delete rows whose use has ended, in batches, and
leave the ones that still hold, count or remember a back-off level.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import lockout, sessions, tasks
from accounts.models import FailedSignIn, SignInLock, UserSession
from common.models import RateLimitWindow
from tests.factories import SignInLockFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def retention(settings):
    settings.AUTHSITE_SIGNIN_RECORD_RETENTION_DAYS = 7
    settings.AUTHSITE_LOGIN_LOCK_MAX_SECONDS = 86400
    settings.AUTHSITE_LOGIN_FAILURE_WINDOW_SECONDS = 900
    return 7


def lock(ip: str, ended_ago: timedelta, *, level: int = 1) -> SignInLock:
    return SignInLockFactory(source_ip=ip, level=level, locked_until=timezone.now() - ended_ago)


def failure(ago: timedelta) -> FailedSignIn:
    return FailedSignIn.objects.create(
        login_key="k" * 64, source_ip="192.0.2.1", at=timezone.now() - ago
    )


def counter(ago: timedelta) -> RateLimitWindow:
    return RateLimitWindow.objects.create(
        scope="signin-pair",
        key=f"k{ago.total_seconds()}",
        window_start=timezone.now() - ago,
        count=3,
    )


def test_rows_past_their_use_and_the_retention_go_and_the_rest_stay(retention):
    """A lock goes once it ended more than the back-off memory (LOGIN_LOCK_MAX_SECONDS)
    plus the retention ago; failures and counters once their window is that far past."""
    holding = lock("192.0.2.1", -timedelta(minutes=5))  # still locked
    remembered = lock("192.0.2.2", DAY / 2)  # ended, still remembers its level
    retained = lock("192.0.2.3", DAY + 6 * DAY)  # past the memory, within retention
    expired = lock("192.0.2.4", DAY + 7 * DAY + timedelta(minutes=1))
    recent_failure, old_failure = failure(timedelta(minutes=1)), failure(8 * DAY)
    recent_counter, old_counter = counter(timedelta(minutes=20)), counter(8 * DAY)

    counts = lockout.prune_records()

    assert counts == {"locks": 1, "failures": 1, "fallback_counters": 1}
    assert set(SignInLock.objects.values_list("pk", flat=True)) == {
        holding.pk,
        remembered.pk,
        retained.pk,
    }
    assert not SignInLock.objects.filter(pk=expired.pk).exists()
    assert list(FailedSignIn.objects.all()) == [recent_failure]
    assert list(RateLimitWindow.objects.all()) == [recent_counter]
    assert old_failure.pk and old_counter.pk


def test_deletes_in_batches_until_nothing_is_left(retention):
    for number in range(25):
        lock(f"192.0.2.{number + 10}", 30 * DAY)
    assert lockout.prune_records(batch_size=10)["locks"] == 25
    assert not SignInLock.objects.exists()


def test_the_back_off_still_doubles_for_a_lock_the_job_keeps(user, retention):
    """A lock that ended within the back-off memory survives the job and the next lock of
    the same source lasts twice as long."""
    now = timezone.now()
    first = None
    for _ in range(5):
        first = lockout.record_failure(lockout.start_attempt("alice", user, "192.0.2.9", now=now))
    later = first.locked_until + timedelta(hours=1)

    lockout.prune_records(now=later)
    assert SignInLock.objects.filter(pk=first.pk).exists()
    second = None
    for _ in range(5):
        attempt = lockout.start_attempt("alice", user, "192.0.2.9", now=later)
        second = lockout.record_failure(attempt)
    assert second.level == 2 and (second.locked_until - later).total_seconds() == 1800


def test_the_task_is_on_the_beat_schedule_and_the_command_runs_it(retention, capsys):
    entries = [e["task"] for e in django_settings.CELERY_BEAT_SCHEDULE.values()]
    assert "accounts.prune_sign_in_records" in entries
    lock("192.0.2.5", 30 * DAY)
    failure(30 * DAY)
    assert tasks.prune_sign_in_records.delay().get() == {
        "locks": 1,
        "failures": 1,
        "fallback_counters": 0,
        "expired_sessions": 0,
        "session_rows": 0,
    }
    lock("192.0.2.6", 30 * DAY)
    call_command("prunesignins", "--batch-size", "1")
    assert "Deleted 1 sign-in locks, 0 failed sign-ins" in capsys.readouterr().out
    assert not SignInLock.objects.exists()


def test_the_retention_setting_moves_the_cut_off(settings, retention):
    settings.AUTHSITE_SIGNIN_RECORD_RETENTION_DAYS = 30
    kept = lock("192.0.2.7", 10 * DAY)
    assert lockout.prune_records()["locks"] == 0
    settings.AUTHSITE_SIGNIN_RECORD_RETENTION_DAYS = 1
    assert lockout.prune_records()["locks"] == 1
    assert not SignInLock.objects.filter(pk=kept.pk).exists()


def test_expired_sessions_and_rows_of_ended_sessions_go_live_ones_stay(user, password):
    """Django leaves expired sessions behind until something clears them, and a row of
    the account page outlives its session until the user looks: the job clears both."""
    live, ended = Client(), Client()
    for browser in (live, ended):
        assert (
            browser.post(
                "/accounts/login/", {"username": "alice", "password": password}
            ).status_code
            == 302
        )
    live_key = live.cookies[django_settings.SESSION_COOKIE_NAME].value
    ended_key = ended.cookies[django_settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=ended_key).update(expire_date=timezone.now() - DAY)

    assert sessions.prune_ended_sessions() == {"expired_sessions": 1, "session_rows": 1}
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [live_key]
    assert Session.objects.filter(session_key=live_key).exists()
    assert live.get("/accounts/account/").status_code == 200
