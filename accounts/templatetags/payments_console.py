"""``{% payments_dashboard %}``: the money-in-and-out module of the console index (data from
``accounts.admin.payments.payments_dashboard``; nothing for a user who may not view withdrawals)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.inclusion_tag("admin/accounts/payments_dashboard.html", takes_context=True)
def payments_dashboard(context):
    from accounts.admin.payments import payments_dashboard as dashboard

    request = context.get("request")
    return {"dash": dashboard(request) if request is not None else None}
