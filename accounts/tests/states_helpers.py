"""Helpers shared by the account-state and judicial-freeze tests (real services, real ledger)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import uuid4

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from accounts.states import freezes
from accounts.states.models import JudicialFreeze

_documents = iter(range(1, 10**9))


def make_user(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username=username, password="states-test-pass")
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename=codename))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def post(account: Account, amount, *, kind: str | None = None, outflow: bool = False):
    """A voucher between the clearing account and ``account`` (inflow unless ``outflow``); a fee
    goes to the fee income account, as its posting rule (accounts.ledger.rules) requires. Without a
    kind: ``funding`` in, the test-only kind ``test`` out."""
    kind = kind or ("test" if outflow else "funding")
    other = internal_account(Role.FEE_INCOME if kind == "fee" else Role.CLEARING)
    src, dst = (account, other) if outflow else (other, account)
    return ledger.post_transfer(
        client="test",
        idempotency_key=str(uuid4()),
        kind=kind,
        legs=ledger.move(from_account_id=src.pk, to_account_id=dst.pk, amount=Decimal(str(amount))),
    )


def place_payload(kind: str, amount=None, *, days: int = 180, document: str | None = None) -> dict:
    now = timezone.now()
    return {
        "kind": kind,
        "amount": None if amount is None else str(amount),
        "authority": "北京市朝阳区人民法院",
        "document_number": document or f"(2026)京0105执{next(_documents)}号",
        "effective_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "expires_at": (now + dt.timedelta(days=days)).isoformat(),
    }


def place(maker, checker, account: Account, kind: str, amount=None, **kwargs) -> JudicialFreeze:
    request = freezes.freeze_request_create(
        action="place", requested_by=maker, account_id=account.pk, payload=place_payload(kind, amount, **kwargs)
    )
    request = freezes.freeze_request_approve(request_id=request.pk, approved_by=checker)
    return JudicialFreeze.objects.get(pk=request.freeze_id)


def act(maker, checker, freeze: JudicialFreeze, action: str, **payload) -> JudicialFreeze:
    payload.setdefault("document_number", f"(2026)京0105执{next(_documents)}号之一")
    request = freezes.freeze_request_create(action=action, requested_by=maker, freeze_id=freeze.pk, payload=payload)
    freezes.freeze_request_approve(request_id=request.pk, approved_by=checker)
    return JudicialFreeze.objects.get(pk=freeze.pk)


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)
