"""Reads of loans: a platform sees only its own (visibility by platform, never by party)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from custody.loans.models import Bid, Loan, LoanInstalment, StandingAuthorisation


def platform_loan(*, codes: set[str], loan_id: int) -> Loan | None:
    """The loan if it belongs to one of ``codes`` (a platform client's), else None (404)."""
    return (
        Loan.objects.filter(pk=loan_id, platform__code__in=codes)
        .select_related("platform", "borrower__account", "borrower__party")
        .prefetch_related(
            Prefetch("instalments", queryset=LoanInstalment.objects.order_by("number")),
            Prefetch("bids", queryset=Bid.objects.select_related("lender__account").order_by("pk")),
        )
        .first()
    )


def platform_loans(*, platform, state: str | None = None) -> QuerySet[Loan]:
    rows = Loan.objects.filter(platform=platform).select_related("platform", "borrower__account")
    return rows.filter(state=state) if state else rows


def authorisations_of(*, grantor) -> QuerySet[StandingAuthorisation]:
    return StandingAuthorisation.objects.filter(grantor=grantor).order_by("-created_at", "-pk")
