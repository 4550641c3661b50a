"""The readiness probe's signing-key check stays cheap and still notices what matters.

Every instance answers ``/health/ready`` every few seconds; decrypting and loading
each stored private key on every probe cost ~100 ms of CPU per probe under load.
Whether a key decrypts is now remembered per key, ciphertext and secret, so a new
secret or an altered ciphertext is still found at the next probe.
"""

from __future__ import annotations

import pytest

from oauth import keys
from oauth.exceptions import SigningKeyUnavailableError
from oauth.models import SigningKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def decryptions(monkeypatch):
    calls = []
    original = keys._material

    def spy(key):
        calls.append(key.kid)
        return original(key)

    monkeypatch.setattr(keys, "_material", spy)
    keys._readable.clear()
    return calls


def test_repeated_probes_decrypt_each_key_once(decryptions):
    keys.ensure_signing_keys()
    for _ in range(20):
        keys.check_signing_keys()
    stored = SigningKey.objects.filter(state__in=["active", "next"]).count()
    assert stored >= 1
    assert len(decryptions) == stored


def test_a_new_secret_is_noticed_at_the_next_probe(decryptions, settings):
    keys.ensure_signing_keys()
    keys.check_signing_keys()
    settings.AUTHSITE_KEY_ENCRYPTION_SECRET = "another secret entirely, 32+ characters long"
    with pytest.raises(SigningKeyUnavailableError):
        keys.check_signing_keys()


def test_an_altered_ciphertext_is_noticed_at_the_next_probe(decryptions):
    keys.ensure_signing_keys()
    keys.check_signing_keys()
    key = SigningKey.objects.filter(state="active").first()
    SigningKey.objects.filter(pk=key.pk).update(
        private_key_encrypted=key.private_key_encrypted[:-8] + "AAAAAAAA"
    )
    with pytest.raises(SigningKeyUnavailableError):
        keys.check_signing_keys()
