"""Partner API for P2P platforms: their custody fees (存管费), read-only (thin views over
``custody.fees.selectors``). Signed and platform-scoped like the sub-account endpoints
(``custody.api.subaccounts.PlatformApiView``): another platform's code, or another platform's
invoice, answers 404 ``not_found``.

- ``GET /api/v1/platforms/{code}/fees/schedule/?date=``: the approved schedule in force (today by
  default), with its bands.
- ``GET /api/v1/platforms/{code}/fees/accruals/?date_from=&date_to=``: daily accruals, oldest first,
  paginated; ``fee_exact`` is the unrounded figure to the micro-yuan (six decimals).
- ``GET /api/v1/platforms/{code}/fees/invoices/?state=``, ``.../invoices/{number}/``: invoices with lines.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from backoffice.api import (
    DateRangeFilterSerializer,
    LocalDateTime,
    MoneyOutput,
    component,
    detail_schema,
    found_or_404,
    list_schema,
    paginated,
    validated,
)
from backoffice.dates import business_date
from custody.api.subaccounts import PlatformApiView
from custody.fees import selectors
from custody.fees.models import FeeInvoice, FeeInvoiceLine, FeeSchedule

TAG = "custody: fees"


@extend_schema_field({"type": "string", "example": "34.246575"})
class MicroOutput(serializers.Field):
    """An unrounded amount: a string with six decimals (micro-yuan)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return f"{value:.6f}"


@extend_schema_field({"type": "string", "example": "0.05000"})
class RateOutput(MicroOutput):
    def to_representation(self, value) -> str:
        return f"{value:.5f}"


class BandSerializer(serializers.Serializer):
    lower_bound = MoneyOutput(help_text="Inclusive lower bound of the basis.")
    rate = RateOutput(help_text="Annual % (balance bases), % of the amount (flows) or yuan per item (count).")

    class Meta:
        ref_name = "FeeBand"


class ScheduleSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    basis = serializers.ChoiceField(choices=FeeSchedule.Basis.values)
    mode = serializers.ChoiceField(choices=FeeSchedule.Mode.values)
    day_count = serializers.ChoiceField(choices=FeeSchedule.DayCount.values)
    rounding = serializers.ChoiceField(choices=FeeSchedule.Rounding.values)
    monthly_minimum = MoneyOutput()
    annual_minimum = MoneyOutput()
    onboarding_fee = MoneyOutput()
    annual_fixed_fee = MoneyOutput()
    per_withdrawal_fee = MoneyOutput()
    per_withdrawal_payer = serializers.ChoiceField(choices=FeeSchedule.Payer.values)
    vat_inclusive = serializers.BooleanField()
    effective_from = serializers.DateField()
    bands = BandSerializer(many=True)

    class Meta:
        ref_name = "FeeSchedule"


class AccrualSerializer(serializers.Serializer):
    business_date = serializers.DateField()
    schedule_version = serializers.IntegerField(source="schedule.version")
    basis_amount = serializers.DecimalField(max_digits=17, decimal_places=2, help_text="Yuan, or a count.")
    days_in_year = serializers.IntegerField()
    fee_exact = MicroOutput(help_text="Unrounded, to the micro-yuan.")
    fee = MoneyOutput(help_text="Rounded half-up to the fen.")

    class Meta:
        ref_name = "FeeAccrual"


class LineSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FeeInvoiceLine.Kind.choices, read_only=True)
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=17, decimal_places=2)
    amount = MoneyOutput()

    class Meta:
        ref_name = "FeeInvoiceLine"


class InvoiceSerializer(serializers.Serializer):
    number = serializers.CharField()
    month = serializers.SerializerMethodField()
    state = serializers.ChoiceField(
        choices=FeeInvoice.State.choices,
        read_only=True,
        help_text="issued, paid or arrears (欠费: the own funds could not pay; retried).",
    )
    issued_on = serializers.DateField()
    due_on = serializers.DateField()
    accrued = MoneyOutput()
    minimum_top_up = MoneyOutput()
    total = MoneyOutput()
    vat_inclusive = serializers.BooleanField()
    paid_at = LocalDateTime()
    lines = LineSerializer(many=True)

    class Meta:
        ref_name = "FeeInvoice"

    def get_month(self, invoice) -> str:
        return f"{invoice.month:%Y-%m}"


class ScheduleFilterSerializer(serializers.Serializer):
    date = serializers.DateField(required=False, help_text="The day (default: today, bank time).")

    class Meta:
        ref_name = "FeeScheduleFilter"


class AccrualFilterSerializer(DateRangeFilterSerializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    class Meta:
        ref_name = "FeeAccrualFilter"


class InvoiceFilterSerializer(serializers.Serializer):
    state = serializers.CharField(required=False, help_text="issued, paid or arrears.")

    class Meta:
        ref_name = "FeeInvoiceFilter"

    def validate_state(self, value):
        if value not in FeeInvoice.State.values:
            raise serializers.ValidationError(_("One of issued, paid, arrears."))
        return value


class FeeScheduleApi(PlatformApiView):
    OutputSerializer = component(ScheduleSerializer, "FeeScheduleDetail")

    @detail_schema(
        "platform_fee_schedule",
        tag=TAG,
        summary="The custody fee schedule in force (today, or ?date=), with its bands",
        output=OutputSerializer,
    )
    def get(self, request, code: str):
        platform = self.platform(request, code)
        day = validated(ScheduleFilterSerializer, request.query_params).get("date") or business_date(timezone.now())
        schedule = selectors.schedule_in_force(platform=platform, day=day)
        return Response(self.OutputSerializer(found_or_404(schedule, _("No fee schedule in force."))).data)


class FeeAccrualListApi(PlatformApiView):
    ListItemSerializer = component(AccrualSerializer, "FeeAccrualListItem")

    @list_schema(
        "platform_fee_accrual_list",
        tag=TAG,
        summary="The platform's daily custody fee accruals, oldest first, paginated",
        filters=AccrualFilterSerializer,
        output=ListItemSerializer,
        items="Accruals",
        errors=(400, 401, 403, 404),
    )
    def get(self, request, code: str):
        platform = self.platform(request, code)
        filters = validated(AccrualFilterSerializer, request.query_params)
        rows = selectors.accruals(platform=platform, date_from=filters.get("date_from"), date_to=filters.get("date_to"))
        return paginated(self, request, rows, self.ListItemSerializer)


class FeeInvoiceListApi(PlatformApiView):
    ListItemSerializer = component(InvoiceSerializer, "FeeInvoiceListItem")

    @list_schema(
        "platform_fee_invoice_list",
        tag=TAG,
        summary="The platform's custody fee invoices, newest first, paginated",
        filters=InvoiceFilterSerializer,
        output=ListItemSerializer,
        items="Invoices",
        errors=(400, 401, 403, 404),
    )
    def get(self, request, code: str):
        platform = self.platform(request, code)
        filters = validated(InvoiceFilterSerializer, request.query_params)
        rows = selectors.invoices(platform=platform, state=filters.get("state"))
        return paginated(self, request, rows, self.ListItemSerializer)


class FeeInvoiceDetailApi(PlatformApiView):
    OutputSerializer = component(InvoiceSerializer, "FeeInvoiceDetail")

    @detail_schema(
        "platform_fee_invoice_detail", tag=TAG, summary="One custody fee invoice with its lines", output=OutputSerializer
    )
    def get(self, request, code: str, number: str):
        platform = self.platform(request, code)
        invoice = selectors.invoice_get(platform=platform, number=number)
        return Response(self.OutputSerializer(found_or_404(invoice, _("No such invoice."))).data)


def urls() -> list:
    """The fee endpoints' routes, for ``custody.api.urls`` (which registers ``platform_segment`` first)."""
    from django.urls import path

    return [
        path("platforms/<platform_segment:code>/fees/schedule/", FeeScheduleApi.as_view(), name="fee-schedule"),
        path("platforms/<platform_segment:code>/fees/accruals/", FeeAccrualListApi.as_view(), name="fee-accruals"),
        path("platforms/<platform_segment:code>/fees/invoices/", FeeInvoiceListApi.as_view(), name="fee-invoices"),
        path(
            "platforms/<platform_segment:code>/fees/invoices/<platform_segment:number>/",
            FeeInvoiceDetailApi.as_view(),
            name="fee-invoice-detail",
        ),
    ]
