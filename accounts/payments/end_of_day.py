"""End of day (日终, R-WD-07): at the business day's end, recompute the ledger (``ledger_check``)
and every registered money invariant (``accounts.ledger.checks.ledger_report`` includes them, e.g.
the transit account = transit withdrawals in flight), and raise a P1 alert on any drift:
``ledger_drift`` for the ledger's own (balances, frozen amounts, vouchers, totals), ``invariant``
for a broken money invariant. Run by beat as ``accounts.end_of_day`` (23:59 Asia/Shanghai) and by
``manage.py end_of_day`` in the embedded mode. It never moves money; every run is audited.

The check starts from the last checkpointed daily trial balance (``LedgerCheckpoint``) and
verifies it and the entries after it; a clean run writes the previous business day's checkpoint
(its cut, the start of today, is a whole day old: nothing still in flight is posted before it).
``manage.py ledger_check --full`` re-derives everything from every entry.

An alert is raised once while it is unacknowledged (``payment_alert``): a drift that persists
night after night keeps the one open alert, and each night's audit row and error log line list
what was found.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.ledger.checks import Drift, LedgerReport, checkpoint_write, invariant_sources, ledger_report
from accounts.ledger.models import LedgerCheckpoint
from accounts.payments.instructions import payment_alert
from accounts.payments.models import PaymentAlert
from backoffice import dates
from backoffice.audit import audit_record
from backoffice.texts import text_spec

__all__ = ["EndOfDayResult", "end_of_day_run"]

log = logging.getLogger(__name__)

#: How many drifts an alert and an audit row carry (the rest: ``manage.py ledger_check``).
SHOWN = 50


@dataclass
class EndOfDayResult:
    business_date: dt.date
    report: LedgerReport
    ledger_drifts: list[Drift] = field(default_factory=list)
    invariant_drifts: list[Drift] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)
    #: The checkpoint this run wrote (the previous business day's trial balance), if any.
    checkpoint: LedgerCheckpoint | None = None

    @property
    def clean(self) -> bool:
        return not self.ledger_drifts and not self.invariant_drifts

    def as_dict(self) -> dict:
        return {
            "business_date": self.business_date.isoformat(),
            "clean": self.clean,
            "accounts": self.report.accounts_checked,
            "vouchers": self.report.transfers_checked,
            "ledger_drifts": [asdict(d) for d in self.ledger_drifts],
            "invariant_drifts": [asdict(d) for d in self.invariant_drifts],
            "alerts": self.alerts,
            "checked_from": self.report.checkpoint.business_date.isoformat() if self.report.checkpoint else "full",
            "checkpoint": self.checkpoint.business_date.isoformat() if self.checkpoint else None,
        }


#: The alert's words per kind of drift: ``{count}`` drifts found on ``{day}``, ``{listed}`` the first five.
END_OF_DAY_TEXTS = {
    PaymentAlert.Kind.LEDGER_DRIFT: _(
        "End of day {day}: {count} ledger drift(s): {listed}. Investigate before the next business day. "
        "/ {day} 日终：发现 {count} 处账务差异：{listed}。请在下一营业日前查明。"
    ),
    PaymentAlert.Kind.INVARIANT: _(
        "End of day {day}: {count} broken money invariant(s): {listed}. Investigate before the next business day. "
        "/ {day} 日终：{count} 项资金不变量不成立：{listed}。请在下一营业日前查明。"
    ),
}
MORE = _("and {count} more / 另有 {count} 处")


def _alert(kind: str, drifts: list[Drift], day: dt.date) -> PaymentAlert:
    listed = "; ".join(str(d) for d in drifts[:5])
    if len(drifts) > 5:
        listed = text_spec("{listed}; {more}", listed=listed, more=text_spec(MORE, count=len(drifts) - 5))
    return payment_alert(
        kind=kind,
        severity=PaymentAlert.Severity.P1,
        message=text_spec(END_OF_DAY_TEXTS[kind], day=day.isoformat(), count=len(drifts), listed=listed),
        business_date=day.isoformat(),
        drifts=[asdict(d) for d in drifts[:SHOWN]],
    )


def end_of_day_run(*, now: dt.datetime | None = None) -> EndOfDayResult:
    """Check the ledger and the money invariants; a P1 alert per kind of drift found."""
    now = now or timezone.now()
    day = dates.business_date(now)
    report = ledger_report()  # incremental from the last checkpoint, when there is one
    areas = {area for area, _source in invariant_sources}
    result = EndOfDayResult(business_date=day, report=report)
    for drift in report.drifts:
        (result.invariant_drifts if drift.kind in areas else result.ledger_drifts).append(drift)
    with transaction.atomic(durable=True):
        if result.ledger_drifts:
            result.alerts.append(_alert(PaymentAlert.Kind.LEDGER_DRIFT, result.ledger_drifts, day).pk)
        if result.invariant_drifts:
            result.alerts.append(_alert(PaymentAlert.Kind.INVARIANT, result.invariant_drifts, day).pk)
        audit_record(
            actor_label="end_of_day",
            action="ledger.end_of_day",
            data={
                "business_date": day.isoformat(),
                "clean": result.clean,
                "accounts": report.accounts_checked,
                "vouchers": report.transfers_checked,
                "drifts": [str(d) for d in report.drifts[:SHOWN]],
                "alerts": result.alerts,
            },
        )
    if result.clean:
        # Only a clean ledger is checkpointed: the next checks start from it (R-WD-07).
        result.checkpoint = checkpoint_write(business_date=day - dt.timedelta(days=1))
        log.info("end of day %s: ledger and money invariants clean", day)
    else:
        log.error(
            "end of day %s: P1: %d ledger drift(s), %d broken invariant(s): %s",
            day,
            len(result.ledger_drifts),
            len(result.invariant_drifts),
            "; ".join(str(d) for d in report.drifts[:SHOWN]),
        )
    return result
