"""Create a partner API client and print its credentials (the secret is shown only here)."""

from django.core.management.base import BaseCommand, CommandError

from backoffice.services import api_client_create


class Command(BaseCommand):
    help = "Create an API client: prints client_id=<id> and secret=<secret> (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help="comma-separated, e.g. 'accounts:read,transfers:write' or '*'")
        parser.add_argument("--ip", default="", help="comma-separated IP allow-list (empty: any)")

    def handle(self, *args, name, scopes, ip, **options):
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        ips = [s.strip() for s in ip.split(",") if s.strip()]
        try:
            client, secret = api_client_create(name=name, scopes=scope_list, ip_allowlist=ips)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"client_id={client.client_id}")
        self.stdout.write(f"secret={secret}")
