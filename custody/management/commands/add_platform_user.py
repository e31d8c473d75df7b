"""Create a platform portal user with their TOTP second factor, or enrol a new device, and print the
otpauth:// provisioning URI once."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from backoffice.errors import FieldValidationError
from custody.models import LendingPlatform, PlatformUser
from custody.platform_users.services import platform_user_create, platform_user_enrol_totp


class Command(BaseCommand):
    help = (
        "Create a platform user (role owner, finance or viewer) who signs in at /portal/custody/platform/login/ "
        "with a password and a TOTP code, and print the otpauth:// URL to scan into an authenticator app. "
        "With --replace-device, enrol a new device for an existing platform user (a lost phone). "
        "The URL holds the key: it is shown once; hand it to that user only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--platform", help="the platform's code, e.g. P001 (to create a user)")
        parser.add_argument("--role", choices=PlatformUser.Role.values, default=PlatformUser.Role.VIEWER)
        parser.add_argument("--password", help="the password (asked for when omitted)")
        parser.add_argument("--replace-device", action="store_true", help="enrol a new TOTP device for an existing user")

    def handle(self, *args, username, platform, role, password, replace_device, **options):
        if replace_device:
            platform_user = PlatformUser.objects.filter(user__username=username).first()
            if platform_user is None:
                raise CommandError(f"no platform user named {username!r}")
            uri = platform_user_enrol_totp(platform_user_id=platform_user.pk, actor_label="add_platform_user")
            self.stdout.write(f"New TOTP device enrolled for {username}; the previous devices are deleted.")
            self.stdout.write(uri)
            return
        lending_platform = LendingPlatform.objects.filter(code=platform or "").first()
        if lending_platform is None:
            raise CommandError(f"no platform with code {platform!r}")
        if password is None:
            password = getpass.getpass("Password: ")
        try:
            platform_user, uri = platform_user_create(
                platform=lending_platform, username=username, password=password, role=role, actor_label="add_platform_user"
            )
        except FieldValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(map(str, reasons))}" for field, reasons in exc.fields.items()))
        self.stdout.write(f"Platform user {username} ({role}) created for {lending_platform}.")
        self.stdout.write(uri)
