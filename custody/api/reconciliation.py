"""Partner API for P2P platforms: the daily reconciliation file (对账文件), its results and the
custody reports (thin views over ``custody.reconciliation``). Signed and platform-scoped like
the sub-account endpoints (``custody.api.subaccounts.PlatformApiView``): another platform's code
answers 404 ``not_found``.

- ``POST /api/v1/platforms/{code}/reconciliation/files/``: the **raw CSV** is the body
  (``Content-Type: text/csv``, UTF-8; the signature covers these bytes; format in
  ``custody.reconciliation.files``). 201 with the day's result; the same bytes again answer 200
  with the first import (idempotent by SHA-256, no ``Idempotency-Key`` needed); 422
  ``reconciliation_file_invalid`` with ``data.errors`` ``[{line, field, message}]`` and nothing
  stored; 415 for another content type.
- ``GET .../reconciliation/days/?date_from=&date_to=&state=``: days, newest first, paginated.
- ``GET .../reconciliation/days/{YYYY-MM-DD}/``: one day with its items.
- ``GET .../reports/{daily|monthly|annual}/?date=YYYY-MM-DD&file_type=csv|xlsx``: the bank's daily
  custody file, or the monthly or annual report of the period containing ``date`` (closed periods
  only: 409 ``period_not_closed``); generated once and kept.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response

from backoffice.api import (
    SIGNING_PARAMETERS,
    DateRangeFilterSerializer,
    LocalDateTime,
    MoneyOutput,
    component,
    error_responses,
    found_or_404,
    list_schema,
    paginated,
    validated,
)
from custody.api.subaccounts import PlatformApiView, client_label
from custody.reconciliation import reports, selectors, services
from custody.reconciliation.models import CustodyReport, ReconciliationDay, ReconciliationItem

TAG = "custody: reconciliation"
CSV_TYPES = ("text/csv", "application/csv")


class ItemSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True, help_text="The file's line; null for an item only the bank has.")
    kind = serializers.ChoiceField(choices=ReconciliationItem.Kind.choices)
    type = serializers.CharField(source="instruction_type", help_text="Instruction type; empty for a balance.")
    out_request_no = serializers.CharField()
    sub_account = serializers.CharField()
    platform_amount = MoneyOutput(allow_null=True)
    bank_amount = MoneyOutput(allow_null=True)
    platform_state = serializers.CharField()
    bank_state = serializers.CharField()
    bank_date = serializers.DateField(allow_null=True)
    result = serializers.ChoiceField(choices=ReconciliationItem.Result.values)
    note = serializers.CharField()

    class Meta:
        ref_name = "ReconciliationItem"


class DaySerializer(serializers.Serializer):
    business_date = serializers.DateField()
    state = serializers.CharField(help_text="missing, reconciled or unreconciled (a long, short or mismatch item is left).")
    matched = serializers.IntegerField()
    long = serializers.IntegerField()
    short = serializers.IntegerField()
    mismatch = serializers.IntegerField()
    timing = serializers.IntegerField()
    file_sha256 = serializers.CharField(source="file.sha256", allow_null=True, default=None)
    reconciled_at = LocalDateTime()

    class Meta:
        ref_name = "ReconciliationDay"


class DayDetailSerializer(DaySerializer):
    items = serializers.SerializerMethodField()

    class Meta:
        ref_name = "ReconciliationDayDetail"

    def get_items(self, day) -> list[dict]:
        return ItemSerializer(selectors.day_items(day=day), many=True).data


class DayFilterSerializer(DateRangeFilterSerializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    state = serializers.CharField(required=False, help_text="missing, reconciled or unreconciled.")

    class Meta:
        ref_name = "ReconciliationDayFilter"

    def validate_state(self, value):
        if value not in ReconciliationDay.State.values:
            raise serializers.ValidationError(_("One of missing, reconciled, unreconciled."))
        return value


class ReportFilterSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="Any day of the period (the day, its month, its year).")
    file_type = serializers.ChoiceField(choices=["csv", "xlsx"], default="csv")

    class Meta:
        ref_name = "CustodyReportFilter"


def _upload_answer(file, created: bool) -> dict:
    day = ReconciliationDay.objects.get(platform_id=file.platform_id, business_date=file.business_date)
    data = DaySerializer(day).data
    data.update(file_sha256=file.sha256, created=created, superseded=day.file_id != file.pk)
    return data


class ReconciliationFileApi(PlatformApiView):
    OutputSerializer = component(DaySerializer, "ReconciliationUploadResult")

    @extend_schema(
        operation_id="platform_reconciliation_file_upload",
        tags=[TAG],
        summary="Upload the platform's daily reconciliation file (raw CSV body); the day is reconciled",
        parameters=SIGNING_PARAMETERS,
        request={"text/csv": OpenApiTypes.BINARY},
        responses={
            201: OutputSerializer,
            200: OpenApiResponse(OutputSerializer, description="The same file again: the first import (by SHA-256)."),
            **error_responses(
                401,
                403,
                404,
                415,
                422,
                texts={
                    404: "not_found: no such platform, or not this client's",
                    422: "reconciliation_file_invalid: the file cannot be read (data says where)",
                },
            ),
        },
    )
    def post(self, request, code: str):
        platform = self.platform(request, code)
        media = (request.content_type or "").split(";")[0].strip().lower()
        if media not in CSV_TYPES:
            raise UnsupportedMediaType(media or "none")
        file, created = services.reconciliation_file_import(
            platform=platform, content=request.body, source="api", client=client_label(request.auth)
        )
        return Response(_upload_answer(file, created), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReconciliationDayListApi(PlatformApiView):
    ListItemSerializer = component(DaySerializer, "ReconciliationDayListItem")

    @list_schema(
        "platform_reconciliation_day_list",
        tag=TAG,
        summary="The platform's reconciliation days, newest first, paginated",
        filters=DayFilterSerializer,
        output=ListItemSerializer,
        items="Days",
        errors=(400, 401, 403, 404),
    )
    def get(self, request, code: str):
        platform = self.platform(request, code)
        filters = validated(DayFilterSerializer, request.query_params)
        rows = selectors.reconciliation_days(
            platform=platform, date_from=filters.get("date_from"), date_to=filters.get("date_to"), state=filters.get("state")
        ).select_related("file")
        return paginated(self, request, rows, self.ListItemSerializer)


class ReconciliationDayDetailApi(PlatformApiView):
    OutputSerializer = component(DayDetailSerializer, "ReconciliationDayDetail")

    @extend_schema(
        operation_id="platform_reconciliation_day_detail",
        tags=[TAG],
        summary="One reconciliation day with its items (matched, long, short, mismatch, timing)",
        parameters=SIGNING_PARAMETERS,
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, code: str, day: str):
        platform = self.platform(request, code)
        try:
            business_day = dt.date.fromisoformat(day)
        except ValueError:
            business_day = None
        found = selectors.reconciliation_day_get(platform=platform, day=business_day) if business_day else None
        return Response(self.OutputSerializer(found_or_404(found, _("No reconciliation for this day."))).data)


class CustodyReportApi(PlatformApiView):
    @extend_schema(
        operation_id="platform_custody_report",
        tags=[TAG],
        summary="Download the daily custody file or the monthly or annual custody report (CSV or XLSX)",
        parameters=[
            *SIGNING_PARAMETERS,
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=CustodyReport.Kind.values),
            ReportFilterSerializer,
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
            **error_responses(
                400,
                401,
                403,
                404,
                409,
                texts={
                    400: "validation_error (fields says which: date, file_type)",
                    404: "not_found: no such platform or report kind",
                    409: "period_not_closed: the day, month or year is not closed yet",
                },
            ),
        },
    )
    def get(self, request, code: str, kind: str):
        platform = self.platform(request, code)
        found_or_404(kind if kind in CustodyReport.Kind.values else None, _("No such report."))
        filters = validated(ReportFilterSerializer, request.query_params)
        report = services.report_generate(platform=platform, kind=kind, day=filters["date"])
        content, content_type, name = reports.export(report, filters["file_type"])
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


def urls() -> list:
    """The reconciliation endpoints' routes, for ``custody.api.urls``."""
    from django.urls import path

    return [
        path(
            "platforms/<platform_segment:code>/reconciliation/files/",
            ReconciliationFileApi.as_view(),
            name="reconciliation-files",
        ),
        path(
            "platforms/<platform_segment:code>/reconciliation/days/",
            ReconciliationDayListApi.as_view(),
            name="reconciliation-days",
        ),
        path(
            "platforms/<platform_segment:code>/reconciliation/days/<platform_segment:day>/",
            ReconciliationDayDetailApi.as_view(),
            name="reconciliation-day-detail",
        ),
        path(
            "platforms/<platform_segment:code>/reports/<platform_segment:kind>/",
            CustodyReportApi.as_view(),
            name="custody-report",
        ),
    ]
