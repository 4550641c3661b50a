"""Sign-in by username or e-mail, with equal timing for unknown accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if not username or password is None:
            return None
        User = get_user_model()
        try:
            user = User.objects.get_by_login(username)
        except User.DoesNotExist:
            # Hash anyway, so an unknown account costs the same as a wrong password.
            User().set_password(password)
            return None
        # check_password re-hashes with Argon2id when the stored hash is older.
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
