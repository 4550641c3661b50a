"""Test data: one factory per model, with factory-boy (as DRF and django-allauth do).

Factories import models and Django only, never a service: a test of a service builds its
data here and then calls the service under test, so moving or changing a service never
changes how the data of unrelated tests is made.

    user = UserFactory()                       # verified, password PASSWORD
    admin = UserFactory(superuser=True)
    app = ApplicationFactory()                 # confidential code-flow client
    app.plaintext_secret                       # its secret; stored hashed, as registration does
    app, secret = ApplicationFactory.with_secret(public=True)     # secret is None
    service, secret = ApplicationFactory.with_secret(service=True)  # client_credentials only
    access, refresh = RefreshTokenFactory(user=user, application=app).pair
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import factory
from factory.django import DjangoModelFactory
from oauth2_provider.models import set_token_value

from django.utils import timezone

from accounts.models import SignInLock, User
from oauth.models import AccessToken, Application, RefreshToken

PASSWORD = "correct horse battery staple 42"
REDIRECT_URI = "https://rp.test/cb"


def client_secret() -> str:
    """A client secret as registration makes one: 384 random bits, URL-safe (64 characters)."""
    return secrets.token_urlsafe(48)


class UserFactory(DjangoModelFactory):
    """A user made by ``User.objects.create_user``: e-mail normalised, fields validated and
    the password hashed. ``password=None`` gives an unusable password; the plaintext is
    kept on ``user.plaintext_password`` for signing in."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.Sequence(lambda n: f"user{n}")
    email_verified = True
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, *args, password=PASSWORD, **kwargs):
        user = cls._get_manager(model_class).create_user(*args, password=password, **kwargs)
        user.plaintext_password = password
        return user

    @classmethod
    def _build(cls, model_class, *args, password=PASSWORD, **kwargs):
        user = model_class(*args, **kwargs)
        user.set_password(password)
        user.plaintext_password = password
        return user


class ApplicationFactory(DjangoModelFactory):
    """An OAuth client, validated with ``full_clean()`` and stored as registration stores it:
    the secret hashed (``hash_client_secret``), a public client with ``none`` as its
    authentication method and a random secret that no one is told.

    The plaintext secret is on ``app.plaintext_secret`` (``None`` for a public client).
    Traits: ``public``, ``service`` (client_credentials only, no redirect URI).
    """

    class Meta:
        model = Application
        skip_postgeneration_save = True

    class Params:
        public = factory.Trait(
            client_type=Application.CLIENT_PUBLIC,
            token_endpoint_auth_method=Application.AUTH_NONE,
        )
        service = factory.Trait(
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            grant_types="client_credentials",
            redirect_uris="",
        )

    name = factory.Sequence(lambda n: f"RP {n}")
    user = None
    client_type = Application.CLIENT_CONFIDENTIAL
    authorization_grant_type = factory.LazyAttribute(
        lambda o: (
            Application.GRANT_AUTHORIZATION_CODE
            if "authorization_code" in o.grant_types.split()
            else Application.GRANT_CLIENT_CREDENTIALS
        )
    )
    grant_types = "authorization_code refresh_token"
    token_endpoint_auth_method = ""
    client_secret = factory.LazyFunction(client_secret)
    hash_client_secret = True
    redirect_uris = REDIRECT_URI
    post_logout_redirect_uris = ""
    allowed_scopes = ""
    first_party = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        app = model_class(*args, **kwargs)
        secret = None if app.client_type == Application.CLIENT_PUBLIC else app.client_secret
        app.full_clean()
        app.save()
        app.plaintext_secret = secret
        return app

    @classmethod
    def with_secret(cls, **kwargs) -> tuple[Application, str | None]:
        """Create a client; return it and its plaintext secret (``None`` when public)."""
        app = cls.create(**kwargs)
        return app, app.plaintext_secret


class _TokenFactory(DjangoModelFactory):
    """Stores ``value`` as DOT stores a token (redacted at rest) and keeps the plaintext
    on ``token.plaintext``."""

    class Meta:
        abstract = True

    value = factory.LazyFunction(lambda: secrets.token_urlsafe(32))

    @classmethod
    def _create(cls, model_class, *args, value, **kwargs):
        token = model_class(*args, **kwargs)
        set_token_value(token, value)
        token.save()
        token.plaintext = value
        return token


class AccessTokenFactory(_TokenFactory):
    """A live access token (an opaque value: what the token endpoint issues is a JWT)
    stored as DOT stores it, the plaintext redacted at rest. The plaintext is on
    ``token.plaintext``."""

    class Meta:
        model = AccessToken

    user = factory.SubFactory(UserFactory)
    application = factory.SubFactory(ApplicationFactory)
    expires = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    scope = "openid"


class RefreshTokenFactory(_TokenFactory):
    """A refresh token with the access token it came with (same user and client).
    ``refresh.pair`` is ``(access_token, refresh_token)``."""

    class Meta:
        model = RefreshToken

    user = factory.SubFactory(UserFactory)
    application = factory.SubFactory(ApplicationFactory)
    access_token = factory.SubFactory(
        AccessTokenFactory,
        user=factory.SelfAttribute("..user"),
        application=factory.SelfAttribute("..application"),
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        token = super()._create(model_class, *args, **kwargs)
        token.pair = (token.access_token, token)
        return token


class SignInLockFactory(DjangoModelFactory):
    """A sign-in lock on one account key from one address, still in force."""

    class Meta:
        model = SignInLock

    login_key = "k" * 64
    source_ip = "192.0.2.1"
    level = 1
    locked_until = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))
