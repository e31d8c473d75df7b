"""Enrol an operator's authenticator app: create a confirmed TOTP device and print its otpauth:// URL."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.audit import audit_record


class Command(BaseCommand):
    help = (
        "Create a confirmed TOTP device for a console user and print the otpauth:// URL to scan or type into "
        "an authenticator app. The URL holds the key: hand it to the operator only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--name", default="authenticator", help="device name shown at sign-in (default: authenticator)")
        parser.add_argument("--replace", action="store_true", help="delete the user's existing TOTP devices first (a lost phone)")

    def handle(self, *args, username, name, replace, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_staff:
            self.stderr.write(f"warning: {username} is not staff and cannot open the console until made staff")
        with transaction.atomic():
            if replace:
                TOTPDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
            audit_record(
                actor_label="add_totp_device", action="otp.device_create", target=user, data={"device": device.persistent_id}
            )
        self.stdout.write(f"TOTP device #{device.pk} {name!r} created for {username}.")
        self.stdout.write(device.config_url)
