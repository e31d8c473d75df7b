"""Recompute the ledger from its entries and holds, print the trial balance and every drift."""

from django.core.management.base import BaseCommand

from accounts.ledger.checks import ledger_report, registered_invariants


class Command(BaseCommand):
    help = (
        "Recompute balances and frozen amounts, check vouchers balance, print the trial balance (试算平衡表); exit 1 on "
        "drift. Incremental from the last end-of-day checkpoint unless --full."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--full",
            action="store_true",
            help="Re-derive everything from every entry, ignoring the end-of-day checkpoints (by default the check "
            "starts from the last checkpoint and verifies it and the entries after it).",
        )

    def handle(self, *args, **options):
        report = ledger_report(full=options["full"])
        tb = report.trial_balance
        out = self.stdout
        if report.checkpoint is None:
            out.write("Full check: every entry / 全量检查")
        else:
            cp = report.checkpoint
            out.write(
                f"Incremental check from the checkpoint of {cp.business_date.isoformat()} ({cp.entries:,} entries before "
                f"{cp.cut_at.isoformat()}) / 自检查点起增量检查; --full re-derives every entry"
            )
        out.write("Trial balance / 试算平衡表")
        out.write(f"{'subject':<8} {'name':<30} {'debit':>18} {'credit':>18} {'balance':>18} side")
        for row in tb.rows:
            name = f"{row.subject.name_zh} {row.subject.name_en}"
            amounts = f"{row.debit:>18.2f} {row.credit:>18.2f} {row.balance:>18.2f}"
            out.write(f"{row.subject.code:<8} {name[:30]:<30} {amounts} {row.subject.normal_side}")
        out.write(f"{'total':<39} {tb.total_debit:>18.2f} {tb.total_credit:>18.2f}")
        out.write(f"debit balances {tb.total_debit_balance:.2f} = credit balances {tb.total_credit_balance:.2f}: {tb.balanced}")
        out.write(f"accounts checked: {report.accounts_checked}, vouchers checked: {report.transfers_checked}")
        for _area, invariant in registered_invariants():
            verdict = "OK" if invariant.holds else "BROKEN"
            out.write(
                f"{invariant.name}: expected {invariant.expected:.2f}, actual {invariant.actual:.2f} "
                f"({invariant.in_flight} in flight) {verdict}"
            )
        if report.drifts:
            for drift in report.drifts:
                self.stderr.write(f"DRIFT {drift}")
            self.stderr.write(f"{len(report.drifts)} drift(s) found")
            raise SystemExit(1)
        out.write(self.style.SUCCESS("no drift"))
