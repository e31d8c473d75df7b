"""Partner API operations: one view per operation, thin (validate, call the ledger, serialize).

Every request is signed (``backoffice.signing``); every POST that moves money is idempotent on
its ``Idempotency-Key`` (``backoffice.idempotency``), and the same key goes down to the ledger
under the client name ``api:<client_id>``, so a re-run after a crash posts nothing twice. Each
posting writes its audit row (actor ``api:<client_id>``, like every console action) in the same
transaction, once: ``transfer.create``, ``hold.create``, ``hold.release``, ``hold.capture``.

Visibility: a client sees only the accounts its scopes grant (``*``, ``party:<id>``,
``account:<number>``) and only the holds it placed itself; anything else is 404 ``not_found``,
exactly as if it did not exist. A party is visible with ``*`` or ``party:<id>``; a bound card
is visible when its account is.

POSTs that move no money (parties, accounts, cards, one-time codes: ``accounts.api.parties``,
``accounts.api.cards``) accept an optional ``Idempotency-Key`` with the same replay semantics
(``idempotent_if_keyed``).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import transfer_fast
from accounts.api.access import hold_payload, own_hold, visible_account, visible_accounts, visible_rows
from accounts.api.serializers import (
    HOLD_CREATE_REASONS,
    SIDE_NAMES,
    AccountSerializer,
    HoldSerializer,
    TransferKindField,
    TransferSerializer,
    transfer_data,
)
from accounts.cards.services import transfer_flows
from accounts.ledger import postings as ledger
from accounts.ledger.models import Hold
from accounts.ledger.selectors import account_statement
from accounts.limits.services import LIMITED_TIERS, limit_guard
from backoffice.api import (
    DateRangeFilterSerializer,
    KeysetPagination,
    LocalDateTime,
    MoneyInput,
    MoneyOutput,
    StrIdField,
    component,
    detail_schema,
    idempotent_if_keyed,
    list_schema,
    paginated,
    validated,
    write_schema,
)
from backoffice.audit import audit_record
from backoffice.errors import error_body
from backoffice.idempotency import idempotent
from backoffice.models import AuditLog
from backoffice.signing import ledger_client

# -- accounts ----------------------------------------------------------------------------


class AccountDetailApi(APIView):
    required_scope = "accounts:read"

    OutputSerializer = component(AccountSerializer, "AccountDetail")

    @detail_schema(
        "account_detail",
        tag="accounts",
        summary="An account's balance, available and frozen amounts",
        output=OutputSerializer,
        description=(
            "The account's tier, role and state, its balance, available and frozen amounts (strings, yuan), the "
            "person's remaining tier limits and the bound card, masked. Only accounts this client's scopes reach "
            "are visible; any other number answers 404 not_found."
        ),
    )
    def get(self, request, number: str):
        account = visible_account(request.auth, number)
        return Response(self.OutputSerializer(account).data)


class AccountEntryListApi(APIView):
    required_scope = "accounts:read"
    pagination_class = KeysetPagination

    class FilterSerializer(DateRangeFilterSerializer):
        date_from = serializers.DateField(required=False, help_text="First business day (Asia/Shanghai), YYYY-MM-DD.")
        date_to = serializers.DateField(required=False, help_text="Last business day, inclusive.")
        kind = serializers.CharField(required=False, max_length=32, help_text="Voucher kind, e.g. transfer, funding.")

        class Meta:
            ref_name = "AccountEntryFilter"

    class OutputSerializer(serializers.Serializer):
        id = StrIdField()
        transfer = StrIdField(source="transfer_id")
        kind = TransferKindField(source="transfer.kind")
        side = serializers.SerializerMethodField()
        amount = MoneyOutput()
        balance_after = MoneyOutput()
        memo = serializers.CharField(source="transfer.memo")
        created_at = LocalDateTime()

        class Meta:
            ref_name = "AccountEntry"

        @extend_schema_field(serializers.ChoiceField(choices=["debit", "credit"]))
        def get_side(self, entry) -> str:
            return SIDE_NAMES[entry.side]

    @list_schema(
        "account_entries",
        tag="accounts",
        summary="An account's entries, newest first, paginated",
        description=(
            "The account's statement: one entry per posting, newest first, each with its voucher (transfer) id and "
            "kind, its side (debit or credit), amount and the balance after it. Filter by business date "
            "(date_from, date_to, Asia/Shanghai) and voucher kind; page with the next link (cursor) or ?page=."
        ),
        filters=FilterSerializer,
        output=OutputSerializer,
        items="Entries",
        errors=(400, 401, 403, 404),
    )
    def get(self, request, number: str):
        account = visible_account(request.auth, number)
        filters = validated(self.FilterSerializer, request.query_params)
        return paginated(self, request, account_statement(account=account, **filters), self.OutputSerializer)


# -- ledger: transfers and holds ---------------------------------------------------------


def _audit_once(request, action: str, target, **data) -> None:
    """The posting's audit row, actor ``api:<client_id>``, in the posting's transaction; a ledger
    replay of the same key (the first posting is returned) writes no second row."""
    label = ledger_client(request.auth)
    target_type = target._meta.label_lower
    if AuditLog.objects.filter(action=action, target_type=target_type, target_id=str(target.pk), actor_label=label).exists():
        return
    audit_record(
        actor_label=label,
        action=action,
        target=target,
        data={"idempotency_key": getattr(request, "idempotency_key", None), **data},
    )


class TransferCreateApi(APIView):
    required_scope = "transfers:write"

    class InputSerializer(serializers.Serializer):
        from_account = serializers.CharField(max_length=16)
        to_account = serializers.CharField(max_length=16)
        amount = MoneyInput()
        memo = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "TransferCreateInput"

    OutputSerializer = component(TransferSerializer, "TransferCreated")

    def dispatch(self, request, *args, **kwargs):
        # On PostgreSQL the common case is one statement (accounts.api.transfer_fast); anything else, or any
        # refusal, is answered by the general path below, as before.
        if request.method == "POST":
            response = transfer_fast.respond(self, request)
            if response is not None:
                return response
        return super().dispatch(request, *args, **kwargs)

    @write_schema(
        "transfer_create",
        tag="ledger",
        summary="Move money from one visible account to another",
        description=(
            "Posts one voucher debiting from_account and crediting to_account (both visible to this client, both "
            "customer accounts). The source must be active and have the amount available; the target must accept "
            "inflows. Class II/III accounts' tier limits count the transfer (R-ACC limits). The Idempotency-Key is "
            "required: a retry with the same key and body answers the first transfer."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        texts={
            409: "insufficient_funds (data.available, data.shortfall), account_not_active (data.state, "
            "data.direction), limit_exceeded (data.limit, data.remaining), tier_flow_not_allowed, "
            "idempotency_key_in_use",
        },
    )
    @idempotent
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        found = visible_accounts(request.auth, data["from_account"], data["to_account"])
        source, target = found[data["from_account"]], found[data["to_account"]]
        # For the tier limits a partner's transfer between two accounts at the bank is a transfer
        # out to and in from a non-bound account (PBOC Class II/III buckets), unless it is between
        # a Class II/III account and its own bound Class I account (``transfer_flows``). Class I and
        # corporate accounts have no regulatory limit: without a Class II/III side no guard is
        # needed. (A tier never changes after opening.)
        limited = {source.tier, target.tier} & set(LIMITED_TIERS)

        def post():  # the posting and its audit row, in one transaction, retried on a deadlock
            transfer = ledger.post_transfer(
                client=ledger_client(request.auth),
                idempotency_key=request.idempotency_key,
                kind="transfer",
                legs=ledger.move(from_account_id=source.pk, to_account_id=target.pk, amount=data["amount"]),
                memo=data["memo"],
                guards=[limit_guard(flows=transfer_flows(source, target))] if limited else (),
            )
            _audit_once(
                request,
                "transfer.create",
                transfer,
                amount=f"{transfer.amount:.2f}",
                from_account=source.number,
                to_account=target.number,
            )
            return transfer

        transfer = ledger.atomic_retrying(post)
        # The voucher the ledger returned (a replay returns the first one, whose legs matched these):
        # no second read of its entries.
        payload = {
            "id": transfer.pk,
            "kind": transfer.kind,
            "amount": transfer.amount,
            "from_account": data["from_account"],
            "to_account": data["to_account"],
            "memo": transfer.memo,
            "created_at": transfer.created_at,
        }
        return Response(self.OutputSerializer(payload).data, status=status.HTTP_201_CREATED)


class _BatchItemInput(serializers.Serializer):
    idempotency_key = serializers.RegexField(
        r"^[\x20-\x7e]{1,255}$",
        max_length=255,
        help_text="This item's own key, 1-255 printable characters: the same key and item again answer the first "
        "transfer (in a batch or alone, as the Idempotency-Key of POST /transfers/); with another item, 422.",
    )
    from_account = serializers.CharField(max_length=16)
    to_account = serializers.CharField(max_length=16)
    amount = MoneyInput()
    memo = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    class Meta:
        ref_name = "TransferBatchItemInput"


class _BatchItemError(serializers.Serializer):
    code = serializers.CharField(help_text="validation_error, not_found, insufficient_funds, account_not_active, ...")
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    data = serializers.DictField(required=False)

    class Meta:
        ref_name = "TransferBatchItemError"


class _BatchItemResult(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in the request, from 0.")
    idempotency_key = serializers.CharField(allow_null=True)
    status = serializers.IntegerField(help_text="201 posted (or replayed), else the status a single transfer would get.")
    transfer = component(TransferSerializer, "TransferBatchPosted")(allow_null=True)
    error = _BatchItemError(allow_null=True)

    class Meta:
        ref_name = "TransferBatchItemResult"


class TransferBatchApi(APIView):
    """``POST /transfers/batch/``: many transfers in one request, one transaction and one commit; each item is
    posted, refused or replayed on its own (its own key, result and error), one item's refusal never undoes
    another's. ``accounts.ledger.postings.post_transfers`` does the posting."""

    required_scope = "transfers:write"

    class InputSerializer(serializers.Serializer):
        items = serializers.ListField(child=serializers.DictField(), allow_empty=False)

        class Meta:
            ref_name = "TransferBatchInput"

        def validate_items(self, items):
            limit = settings.LEDGER_BATCH_MAX
            if len(items) > limit:
                raise serializers.ValidationError(_("A batch holds at most {limit} items.").format(limit=limit))
            keys = [item.get("idempotency_key") for item in items if isinstance(item.get("idempotency_key"), str)]
            repeated = sorted({key for key in keys if keys.count(key) > 1})
            if repeated:
                raise serializers.ValidationError(
                    _("Each item needs its own idempotency_key; repeated: {keys}.").format(keys=", ".join(repeated[:5]))
                )
            return items

    class SchemaInputSerializer(serializers.Serializer):
        items = _BatchItemInput(many=True, help_text="1 to LEDGER_BATCH_MAX (100) transfers.")

        class Meta:
            ref_name = "TransferBatchInput"

    class OutputSerializer(serializers.Serializer):
        succeeded = serializers.IntegerField()
        failed = serializers.IntegerField()
        results = _BatchItemResult(many=True)

        class Meta:
            ref_name = "TransferBatchResult"

    @write_schema(
        "transfer_batch",
        tag="ledger",
        summary="Many transfers in one request: each with its own key, result and error",
        description=(
            "Posts up to LEDGER_BATCH_MAX (100) transfers between visible accounts in one database transaction and one "
            "commit, each exactly as POST /transfers/ would (same rules, tier limits, refusals): a refused item writes "
            "nothing and never undoes another. The answer is 200 with one "
            "result per item, in order (status 201 and the transfer, or the status and error body a single transfer "
            "would get); a malformed envelope (no items, more than the maximum, a repeated item key, a body that is not "
            "JSON) is refused whole with 400. The Idempotency-Key header is optional here: each item's own "
            "idempotency_key makes a retry safe (the same key and item answer the first transfer)."
        ),
        request=SchemaInputSerializer,
        output=OutputSerializer,
        success=200,
        key_required=False,
    )
    @idempotent_if_keyed
    def post(self, request):
        items = validated(self.InputSerializer, request.data)["items"]
        client = ledger_client(request.auth)
        parsed: list[dict | None] = []
        results: list[dict | None] = []
        for index, raw in enumerate(items):
            serializer = _BatchItemInput(data=raw)
            if serializer.is_valid():
                parsed.append(serializer.validated_data)
                results.append(None)
            else:
                parsed.append(None)
                fields = {name: [str(message) for message in messages] for name, messages in serializer.errors.items()}
                error = error_body("validation_error", _("Some fields are invalid."), fields=fields)
                key = raw.get("idempotency_key") if isinstance(raw.get("idempotency_key"), str) else None
                results.append(_batch_result(index, key, 400, error=error))
        numbers = {n for data in parsed if data for n in (data["from_account"], data["to_account"])}
        accounts = {row.number: row for row in visible_rows(request.auth, numbers)}
        batch, positions = [], []
        for index, data in enumerate(parsed):
            if data is None:
                continue
            source, target = accounts.get(data["from_account"]), accounts.get(data["to_account"])
            if source is None or target is None:
                error = error_body("not_found", _("No such account."))
                results[index] = _batch_result(index, data["idempotency_key"], 404, error=error)
                continue
            limited = {source.tier, target.tier} & set(LIMITED_TIERS)
            batch.append(
                ledger.BatchItem(
                    idempotency_key=data["idempotency_key"],
                    legs=ledger.move(from_account_id=source.pk, to_account_id=target.pk, amount=data["amount"]),
                    memo=data["memo"],
                    guards=[limit_guard(flows=transfer_flows(source, target))] if limited else (),
                )
            )
            positions.append(index)

        def audit(outcomes) -> None:  # the posted items' audit rows, in the batch's transaction
            _audit_batch(
                request,
                "transfer.create",
                [
                    (
                        outcome.transfer,
                        {
                            "idempotency_key": parsed[index]["idempotency_key"],
                            "amount": f"{outcome.transfer.amount:.2f}",
                            "from_account": parsed[index]["from_account"],
                            "to_account": parsed[index]["to_account"],
                        },
                    )
                    for index, outcome in zip(positions, outcomes, strict=True)
                    if outcome.transfer is not None
                ],
            )

        outcomes = ledger.post_transfers(client=client, kind="transfer", items=batch, after_all=audit)
        for index, outcome in zip(positions, outcomes, strict=True):
            data = parsed[index]
            if outcome.error is not None:
                exc = outcome.error
                error = error_body(exc.code, exc.text, fields=getattr(exc, "fields", None), data=exc.data or None)
                results[index] = _batch_result(index, data["idempotency_key"], exc.http_status, error=error)
            else:
                transfer = outcome.transfer
                payload = {
                    "id": transfer.pk,
                    "kind": transfer.kind,
                    "amount": transfer.amount,
                    "from_account": data["from_account"],
                    "to_account": data["to_account"],
                    "memo": transfer.memo,
                    "created_at": transfer.created_at,
                }
                results[index] = _batch_result(index, data["idempotency_key"], 201, transfer=payload)
        failed = sum(1 for result in results if result["status"] != 201)
        body = {"succeeded": len(results) - failed, "failed": failed, "results": results}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_200_OK)


def _audit_batch(request, action: str, done: list) -> None:
    """``_audit_once`` for many postings: ``done`` is ``(target, data)`` pairs; one read of the rows
    already written (a ledger replay writes no second row) and one bulk insert of the others, each row as
    ``backoffice.audit.audit_record`` writes it (actor ``api:<client_id>``, in the posting's transaction)."""
    if not done:
        return
    label = ledger_client(request.auth)
    target_type = done[0][0]._meta.label_lower
    written = set(
        AuditLog.objects.filter(
            action=action, target_type=target_type, target_id__in=[str(target.pk) for target, _data in done], actor_label=label
        ).values_list("target_id", flat=True)
    )
    rows = []
    for target, data in done:
        if str(target.pk) in written:
            continue
        written.add(str(target.pk))
        rows.append(
            AuditLog(
                actor=None,
                actor_label=label[:100],
                action=action,
                target_type=target_type,
                target_id=str(target.pk),
                data={"idempotency_key": getattr(request, "idempotency_key", None), **data},
            )
        )
    AuditLog.objects.bulk_create(rows)


def _batch_result(index: int, key, status_code: int, *, transfer=None, error=None) -> dict:
    return {"index": index, "idempotency_key": key, "status": status_code, "transfer": transfer, "error": error}


class HoldCreateApi(APIView):
    required_scope = "holds:write"

    class InputSerializer(serializers.Serializer):
        account = serializers.CharField(max_length=16)
        amount = MoneyInput()
        # A platform's margin (保证金) is placed only by custody's service, never by a partner.
        reason = serializers.ChoiceField(
            choices=HOLD_CREATE_REASONS,
            required=False,
            default=Hold.Reason.PARTNER,
        )

        class Meta:
            ref_name = "HoldCreateInput"

    OutputSerializer = component(HoldSerializer, "HoldCreated")

    @write_schema(
        "hold_create",
        tag="ledger",
        summary="Freeze part of a visible account's available money",
        description=(
            "Places a hold (冻结) on a visible, active account: the amount leaves available but stays in the balance "
            "until the hold is released or captured. The reason defaults to partner; expires_at is set for reasons "
            "that expire."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        texts={
            409: "insufficient_funds (data.available, data.shortfall), account_not_active (data.state), idempotency_key_in_use",
        },
    )
    @idempotent
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        account = visible_account(request.auth, data["account"])

        def post():  # the posting and its audit row, in one transaction, retried on a deadlock
            hold = ledger.hold_place(
                client=ledger_client(request.auth),
                idempotency_key=request.idempotency_key,
                account_id=account.pk,
                amount=data["amount"],
                reason=data["reason"],
            )
            _audit_once(request, "hold.create", hold, account=account.number, amount=f"{hold.amount:.2f}", reason=hold.reason)
            return hold

        hold = ledger.atomic_retrying(post)
        return Response(hold_payload(hold.pk), status=status.HTTP_201_CREATED)


class HoldReleaseApi(APIView):
    required_scope = "holds:write"

    OutputSerializer = component(HoldSerializer, "HoldReleased")

    @write_schema(
        "hold_release",
        tag="ledger",
        summary="Unfreeze a hold this client placed",
        description="Ends an active hold this client placed: its amount is available again. The answer is the hold, released.",
        request=None,
        output=OutputSerializer,
        success=200,
        texts={409: "invalid_state (data.state: the hold is not active), idempotency_key_in_use"},
    )
    @idempotent
    def post(self, request, hold_id: int):
        hold = own_hold(request.auth, hold_id)

        def post():  # the posting and its audit row, in one transaction, retried on a deadlock
            released = ledger.hold_release(
                client=ledger_client(request.auth), idempotency_key=request.idempotency_key, hold_id=hold.pk
            )
            _audit_once(request, "hold.release", released, amount=f"{released.amount:.2f}")
            return released

        ledger.atomic_retrying(post)
        return Response(hold_payload(hold.pk))


class HoldCaptureApi(APIView):
    required_scope = "holds:write"

    class InputSerializer(serializers.Serializer):
        to_account = serializers.CharField(max_length=16)
        amount = MoneyInput(required=False, help_text="Part of the held amount; the rest is released. Default: all.")
        memo = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "HoldCaptureInput"

    class OutputSerializer(serializers.Serializer):
        hold = HoldSerializer()
        transfer = TransferSerializer()

        class Meta:
            ref_name = "HoldCaptured"

    @write_schema(
        "hold_capture",
        tag="ledger",
        summary="Debit all or part of a hold to a visible account and end the hold",
        description=(
            "Captures an active hold this client placed: the amount (default: all of it; at most the held amount) "
            "moves to to_account in one voucher, the rest is released, and the hold ends captured. The answer "
            "gives the hold and the transfer."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        success=200,
        texts={
            409: "invalid_state (data.state: the hold is not active), account_not_active (data.state), idempotency_key_in_use",
        },
    )
    @idempotent
    def post(self, request, hold_id: int):
        data = validated(self.InputSerializer, request.data)
        hold = own_hold(request.auth, hold_id)
        target = visible_account(request.auth, data["to_account"])

        def post():  # the posting and its audit row, in one transaction, retried on a deadlock
            transfer = ledger.hold_capture(
                client=ledger_client(request.auth),
                idempotency_key=request.idempotency_key,
                hold_id=hold.pk,
                to_account_id=target.pk,
                amount=data.get("amount"),
                memo=data["memo"],
            )
            _audit_once(
                request, "hold.capture", hold, transfer=transfer.pk, to_account=target.number, amount=f"{transfer.amount:.2f}"
            )
            return transfer

        transfer = ledger.atomic_retrying(post)
        return Response({"hold": hold_payload(hold.pk), "transfer": TransferSerializer(transfer_data(transfer)).data})
