"""End of day in the embedded mode: what the beat job ``accounts.end_of_day`` does (R-WD-07)."""

from django.core.management.base import BaseCommand

from accounts.payments.end_of_day import end_of_day_run


class Command(BaseCommand):
    help = (
        "End of day: recompute the ledger and every registered money invariant; raise a P1 alert on any drift "
        "(as the beat job accounts.end_of_day). Exit 1 on drift."
    )

    def handle(self, *args, **options):
        result = end_of_day_run()
        report = result.report
        self.stdout.write(
            f"end of day {result.business_date.isoformat()}: accounts checked: {report.accounts_checked}, "
            f"vouchers checked: {report.transfers_checked}"
        )
        checked_from = report.checkpoint.business_date.isoformat() if report.checkpoint else None
        self.stdout.write(
            f"checked from the checkpoint of {checked_from}" if checked_from else "checked in full (no checkpoint yet)"
        )
        if result.checkpoint is not None:
            self.stdout.write(
                f"checkpoint written: {result.checkpoint.business_date.isoformat()} ({result.checkpoint.entries:,} entries)"
            )
        if result.clean:
            self.stdout.write(self.style.SUCCESS("no drift"))
            return
        for drift in report.drifts:
            self.stderr.write(f"DRIFT {drift}")
        self.stderr.write(f"{len(report.drifts)} drift(s) found; P1 alert(s) {result.alerts}")
        raise SystemExit(1)
