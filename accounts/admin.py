from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import lockout
from accounts.models import SignInLock, User


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "username")


class UserAdminChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes: dict[str, type[forms.Field]] = {}


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserAdminChangeForm
    add_form = UserCreationForm
    list_display = (
        "email",
        "username",
        "first_name",
        "last_name",
        "email_verified",
        "is_staff",
        "is_active",
    )
    list_filter = ("is_staff", "is_superuser", "is_active", "email_verified", "groups")
    search_fields = ("email", "username", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("uuid", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "email_verified", "username", "password", "uuid")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "username", "usable_password", "password1", "password2"),
            },
        ),
    )


@admin.register(SignInLock)
class SignInLockAdmin(admin.ModelAdmin):
    """Sign-in locks, read-only: clearing one goes through accounts.lockout (Redis + audit)."""

    list_display = (
        "__str__",
        "user",
        "source_ip",
        "level",
        "failures",
        "locked_until",
        "is_active",
        "created",
    )
    list_filter = ("level", "locked_until", "created")
    search_fields = ("user__email", "user__username", "source_ip")
    ordering = ("-locked_until",)
    list_select_related = ("user",)
    readonly_fields = (
        "login_key",
        "user",
        "source_ip",
        "failures",
        "level",
        "locked_until",
        "created",
    )
    actions = ["clear_locks"]

    @admin.display(boolean=True, description=_("in force"))
    def is_active(self, lock: SignInLock) -> bool:
        return lock.locked_until > timezone.now()

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        # Deleting a row directly would leave the Redis mirror locking, unaudited.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj) -> None:
        lockout.clear_locks([obj], actor=request.user, source="admin", request=request)

    def delete_queryset(self, request, queryset) -> None:
        lockout.clear_locks(queryset, actor=request.user, source="admin", request=request)

    @admin.action(description=_("Clear selected locks"), permissions=["delete"])
    def clear_locks(self, request, queryset) -> None:
        count = lockout.clear_locks(
            queryset.select_related("user"), actor=request.user, source="admin", request=request
        )
        self.message_user(request, _("%(count)d lock(s) cleared.") % {"count": count})
