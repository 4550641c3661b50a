"""The custom user: e-mail unique case-insensitively, optional unique username, Argon2id."""

from __future__ import annotations

import pytest

from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_email_is_unique_case_insensitively(user):
    with pytest.raises(ValidationError) as excinfo:
        User.objects.create_user(email="ALICE@Example.com", password="another password 123")
    assert "already exists" in str(excinfo.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        User(email="Alice@EXAMPLE.COM").save()


def test_username_is_optional_and_unique_case_insensitively_when_set(user):
    first = User.objects.create_user(email="bob@example.com", password="x" * 16)
    second = User.objects.create_user(email="carol@example.com", password="x" * 16, username="")
    assert first.username is None and second.username is None
    with pytest.raises(ValidationError):
        User.objects.create_user(email="dave@example.com", password="x" * 16, username="ALICE")


def test_username_cannot_look_like_an_email(db):
    with pytest.raises(ValidationError):
        User.objects.create_user(email="eve@example.com", password="x" * 16, username="eve@x")


@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
def test_sign_in_by_username_or_email(user, password, login):
    assert authenticate(username=login, password=password) == user


def test_wrong_password_unknown_user_and_inactive_user_fail(user, password):
    assert authenticate(username="alice", password=password + "x") is None
    assert authenticate(username="nobody@example.com", password=password) is None
    user.is_active = False
    user.save()
    assert authenticate(username="alice", password=password) is None


def test_passwords_are_hashed_with_argon2id(user):
    assert user.password.startswith("argon2$argon2id$")


def test_older_hashes_are_upgraded_on_sign_in(user, password):
    user.password = make_password(password, hasher="pbkdf2_sha256")
    user.save()
    assert authenticate(username="alice", password=password) == user
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")


def test_user_has_stable_public_id_and_timestamps(user):
    assert user.uuid and user.date_joined and user.last_login is None
    assert User.objects.get(uuid=user.uuid) == user


def test_a_new_account_starts_with_an_unverified_email(db):
    new = User.objects.create_user(email="new@example.com", password="a long enough pass 1")
    assert new.email_verified is False
