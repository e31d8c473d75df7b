"""Re-drive withdrawals and recharges in flight (what the beat task does every minute)."""

from django.core.management.base import BaseCommand

from accounts.payments.sweep import payments_sweep


class Command(BaseCommand):
    help = "Re-submit or query every withdrawal and recharge in flight without recent activity; raise alerts for old ones."

    def handle(self, *args, **options):
        counts = payments_sweep()
        self.stdout.write(f"re-submitted {counts['submitted']}, queried {counts['queried']}, new alerts {counts['alerts']}")
