"""The partner API's OpenAPI schema as a partner's engineer meets it (drf-spectacular hooks).

- ``preprocessing_hook``: each route is served with and without its trailing slash; the schema publishes the form
  without (``/api/v1/transfers``), as OpenAPI linters expect; both answer alike and the signature covers the path as
  sent.
- ``postprocessing_hook``:
  * the error responses: each status of an operation answers one of the codes the operation's description names
    (``ERROR_CODES`` catalogues them: status, meaning and the shape of ``data``); the body is ``oneOf`` the codes'
    components (``InsufficientFundsError``, ...) with ``code`` as discriminator, so a generated client gets a typed
    ``code`` enum per operation and a documented ``data`` per code;
  * identical component schemas are published once under one stable name (``MERGED_COMPONENTS``);
  * every operation gets a description (its own, then its errors and their meanings) and examples generated from
    its schemas (request body and success response) where it has none of its own;
  * components no operation uses are dropped.

Imports no app: the codes and names are strings.
"""

from __future__ import annotations

import copy
import importlib
import re
from typing import Any

# -- enum names ------------------------------------------------------------------------------


def choice_values(path: str):
    """For settings' ENUM_NAME_OVERRIDES: a callable giving the values of the choices at ``path`` (a dotted path to a
    ``TextChoices`` class, however nested) as a plain list, the form of a field declared with ``.values`` (its enum
    hash pairs each value with itself). Imported when the schema is generated, never at settings time."""

    def values() -> list[str]:
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):  # the longest importable module prefix, then attributes
            try:
                target = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                target = getattr(target, attribute)
            return [str(value) for value in target.values]
        raise ImportError(path)

    return values


# -- the error codes ------------------------------------------------------------------------


def _prop(description: str, **schema) -> dict:
    return {**schema, "description": description}


_STATE = _prop("The object's current state (its state enum).", type="string")
_AMOUNT = _prop("An amount, as a string with two decimals.", type="string")

#: code -> (HTTP status, meaning, properties of ``data`` or None when the refusal carries no documented data).
ERROR_CODES: dict[str, tuple[int, str, dict | None]] = {
    # 400
    "validation_error": (400, "A field is missing or malformed: `fields` names each one with its messages.", None),
    "malformed_request": (
        400,
        "The body is not strict JSON.",
        {
            "reason": _prop(
                "Why: syntax, not_utf8, duplicate_key, lone_surrogate, not_a_number (NaN/Infinity) or too_deep.",
                type="string",
                enum=["syntax", "not_utf8", "duplicate_key", "lone_surrogate", "not_a_number", "too_deep"],
            )
        },
    ),
    "idempotency_key_required": (
        400,
        "The Idempotency-Key header is missing (a money-moving POST) or malformed (not 1-255 printable characters).",
        None,
    ),
    # 401
    "missing_signature_headers": (401, "A signing header is missing or malformed.", None),
    "unknown_client": (401, "X-Client-Id names no active client.", None),
    "bad_signature": (401, "X-Signature does not match the request.", None),
    "stale_timestamp": (401, "X-Timestamp is more than 300 s away from the server clock.", None),
    "replayed_nonce": (401, "X-Nonce was already used by this client within 24 h.", None),
    "invalid_signature": (401, "The channel's signature is forged or unreadable; the callback is recorded, nothing moves.", None),
    # 403
    "forbidden_scope": (403, "The client lacks the scope this operation needs.", None),
    "ip_not_allowed": (403, "The caller's address is not in the client's IP allow-list.", None),
    "platform_scope_refused": (403, "A P2P platform's client may use only its platform's endpoints.", None),
    "authorization_invalid": (403, "Wrong or used one-time code, or wrong transaction password.", None),
    "transaction_password_locked": (403, "Too many wrong transaction passwords: locked for a while.", None),
    "authorization_method_refused": (403, "This instruction cannot be authorised by that method.", None),
    "authorization_not_in_force": (403, "The standing authorisation is unknown, expired or revoked.", None),
    "authorization_out_of_scope": (403, "The standing authorisation is another grantor's, platform's or type's.", None),
    "posting_rule_violation": (403, "A posting rule forbids moving money between these accounts.", None),
    # 404
    "not_found": (404, "No such object, or not visible to this client (the same answer for both).", None),
    # 409
    "idempotency_key_in_use": (409, "A request with the same Idempotency-Key is still being processed: retry later.", None),
    "insufficient_funds": (
        409,
        "The account's available balance does not cover the amount.",
        {"account": _prop("The account's number.", type="string"), "available": _AMOUNT, "shortfall": _AMOUNT},
    ),
    "account_not_active": (
        409,
        "The account is pending verification, suspended, dormant, closed or frozen against this direction.",
        {
            "account": _prop("The account's number.", type="string"),
            "state": _STATE,
            "direction": _prop("inflow or outflow.", type="string"),
        },
    ),
    "invalid_state": (409, "The object's state does not allow this.", {"state": _STATE}),
    "limit_exceeded": (
        409,
        "A tier, count or amount limit would be exceeded.",
        {
            "limit": _prop("Which limit (its code, e.g. II_outflow_day or class_i_per_person).", type="string"),
            "remaining": _prop("What is left under it: an amount string, or a count (integer) for a count limit."),
            "maximum": _prop("A count limit's maximum (account opening: accounts per person).", type="integer"),
            "held": _prop("How many the party already holds (account opening).", type="integer"),
        },
    ),
    "tier_flow_not_allowed": (409, "The account's tier does not allow this flow.", None),
    "duplicate_reference": (
        409,
        "out_request_no was used before by this client.",
        {"id": _prop("The first object's id (a string of digits).", type="string")},
    ),
    "duplicate_party": (
        409,
        "This party already exists.",
        {"party": _prop("The existing party's id (a string of digits), if visible.", type="string")},
    ),
    "kyc_not_approved": (409, "The party's KYC is not approved.", {"state": _STATE}),
    "card_already_bound": (409, "This card is already live on the account.", None),
    "micro_deposit_expired": (409, "The micro-deposit expired: bind the card again.", None),
    "mobile_unknown": (409, "No mobile is known for the account.", None),
    "withdrawal_not_allowed": (409, "The holder's identity is not verified.", None),
    "no_withdrawal_card": (409, "The account has no verified bound card.", None),
    "daily_count_exceeded": (
        409,
        "Too many withdrawals today.",
        {"count": _prop("Today's count."), "limit": _prop("The limit.")},
    ),
    "outside_submission_window": (
        409,
        "Outside the channel's submission window.",
        {"next_window": _prop("When it opens again.")},
    ),
    "no_channel": (409, "No enabled payment channel can carry this.", None),
    "fundraising_closed": (409, "The loan's fundraising is closed.", None),
    "bid_exceeds_remaining": (409, "The bid is more than the loan still needs.", {"remaining": _AMOUNT}),
    "self_lending": (409, "A borrower cannot bid on its own loan.", None),
    "lender_account_frozen": (
        409,
        "A lender's account is frozen.",
        {"account": _prop("The lender's account."), "bid": _prop("The bid's id (a string of digits).", type="string")},
    ),
    "authorization_limit_exceeded": (
        409,
        "The standing authorisation's limit would be exceeded.",
        {"limit": _prop("The limit."), "remaining": _prop("What is left.")},
    ),
    "repayment_refused": (409, "The repayment is refused for this loan.", None),
    "payer_not_allowed": (409, "This payer may not repay this loan.", None),
    "platform_not_active": (409, "The platform is not active.", {"state": _STATE}),
    "duplicate_sub_account": (409, "The client already has a sub-account of this role.", {"account": _prop("The existing one.")}),
    "merchant_not_active": (409, "The merchant is not active.", {"state": _STATE}),
    "no_fee_rate": (409, "No fee rate is configured for this channel.", None),
    "refund_count_exceeded": (409, "The payment has had as many refunds as allowed.", None),
    "refund_window_closed": (
        409,
        "Past the channel's refund window: propose a refund payout instead.",
        {
            "days": _prop("The window in days."),
            "window_closed_at": _prop("When it closed."),
            "refundable_cash": _AMOUNT,
            "refund_payout": _prop("The path to POST a refund payout to."),
        },
    ),
    "period_not_closed": (409, "The day, month or year is not closed yet: ask again after its close.", None),
    "refund_window_open": (
        409,
        "The channel's refund window is still open: refund through the channel.",
        {"window_closes_at": _prop("When it closes.")},
    ),
    # 415
    "unsupported_media_type": (415, "The body is not sent as application/json.", None),
    # 422
    "idempotency_key_mismatch": (422, "The Idempotency-Key was used with a different request.", {"key": _prop("The key.")}),
    "micro_deposit_mismatch": (
        422,
        "Wrong back-filled amount; at 0 attempts left the card is failed.",
        {"attempts_left": _prop("Attempts left.", type="integer")},
    ),
    "card_holder_mismatch": (422, "Not the holder's own name and ID.", None),
    "card_type_not_allowed": (422, "Not a debit card.", None),
    "card_bin_unknown": (422, "The issuer is unknown: the card cannot be shown to be a debit card.", None),
    "bound_account_not_allowed": (422, "R-ACC-03: this account cannot be bound.", None),
    "otp_expired": (422, "The one-time code expired: request a new one.", None),
    "identity_mismatch": (422, "The identity does not match the party's.", None),
    "amount_mismatch": (
        422,
        "The amount differs from the instruction's; recorded, not applied.",
        {"duplicate": _prop("A duplicate.")},
    ),
    "reconciliation_file_invalid": (422, "The reconciliation file cannot be read.", None),
}

#: Codes any signed operation may answer (the signature and the permission checks), by status.
SIGNED_CODES = {
    401: ["missing_signature_headers", "unknown_client", "bad_signature", "stale_timestamp", "replayed_nonce"],
    403: ["forbidden_scope", "ip_not_allowed"],
}
PLATFORM_PATH = "/api/v1/platforms/"

#: Identical component schemas published once, under the name on the left.
MERGED_COMPONENTS = {
    "Account": ["AccountDetail", "AccountOpened"],
    "Card": ["CardDetail", "CardBound", "CardConfirmed"],
    "Hold": ["Hold", "HoldCreated", "HoldReleased"],
    "Transfer": ["Transfer", "TransferCreated", "TransferBatchPosted"],
    "Recharge": ["RechargeDetail", "RechargeCreated", "RechargeListItem"],
    "Withdrawal": ["WithdrawalDetail", "WithdrawalCreated", "WithdrawalListItem"],
    "Loan": ["LoanDetail", "LoanCreated", "LoanCancelled", "LoanDisbursed"],
    "LoanBid": ["LoanBid", "BidPlaced", "BidWithdrawn"],
    "FeeInvoice": ["FeeInvoiceDetail", "FeeInvoiceListItem"],
    "InstructionConfirmation": ["InstructionConfirmation", "InstructionConfirmationDetail"],
    "Payment": ["PaymentDetail", "PaymentCreated"],
    "PlatformSettlementAccount": [
        "PlatformSettlementAccountDetail",
        "PlatformSettlementAccountBound",
        "PlatformSettlementAccountVerified",
    ],
    "ReconciliationDay": ["ReconciliationDayListItem", "ReconciliationUploadResult"],
    "Refund": ["Refund", "RefundCreated"],
    "RefundPayout": ["RefundPayout", "RefundPayoutCreated", "RefundPayoutDetail"],
    "SubAccount": ["SubAccountDetail", "SubAccountListItem"],
}

_CODE_RE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\bforbidden\b")
_METHODS = ("get", "post", "put", "patch", "delete")


def error_component_name(code: str) -> str:
    """``insufficient_funds`` -> ``InsufficientFundsError``; ``validation_error`` -> ``ValidationError``."""
    name = "".join(part.capitalize() for part in code.split("_"))
    return name if name.endswith("Error") else name + "Error"


def error_component(code: str) -> dict:
    status, meaning, data = ERROR_CODES[code]
    properties: dict[str, Any] = {
        "code": {"type": "string", "enum": [code], "description": meaning},
        "message": {"type": "string", "description": "Human-readable, in the Accept-Language language (zh-hans or en)."},
    }
    required = ["code", "message"]
    if code == "validation_error":
        properties["fields"] = {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Each bad field (or non_field_errors) with its messages.",
        }
        required.append("fields")
    if data is not None:
        properties["data"] = {
            "type": "object",
            "properties": copy.deepcopy(data),
            "description": "Named details of the refusal (the keys below; more may be added).",
        }
    else:
        properties["data"] = {
            "type": "object",
            "description": "Named details, if any (none are documented for this code).",
        }
    return {
        "type": "object",
        "description": f"HTTP {status} `{code}`: {meaning}",
        "required": required,
        "properties": properties,
    }


def codes_in(text: str, status: int) -> list[str]:
    """The catalogued codes of ``status`` that ``text`` names, in order, once each."""
    found: list[str] = []
    for token in _CODE_RE.findall(text or ""):
        entry = ERROR_CODES.get(token)
        if entry and entry[0] == status and token not in found:
            found.append(token)
    return found


# -- examples -------------------------------------------------------------------------------

_FORMAT_EXAMPLES = {
    "date-time": "2026-12-01T15:04:05+08:00",
    "date": "2026-12-01",
    "uri": "https://bank.example/api/v1/withdrawals?cursor=WyIyMDI2Il0",
    "email": "ops@platform.example",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "decimal": "100.00",
}
_PATTERN_EXAMPLES = {
    r"^[0-9]+(\.[0-9]{1,2})?$": "100.00",
    r"^-?[0-9]+\.[0-9]{2}$": "100.00",
    r"^[0-9]{1,18}$": "1",
}

#: Examples by property name, where the schema gives none (tried before the plain value of the type).
_NAME_EXAMPLES = {
    "account": "6230050417287053",
    "from_account": "6230050417287053",
    "to_account": "6230092626126821",
    "number": "6230050417287053",
    "lender": "6230050417287053",
    "borrower": "6230092626126821",
    "card_number": "6228 **** **** 0018",
    "id_number": "110105********002X",
    "mobile": "138****0000",
    "reserved_mobile": "13800000000",
    "holder_name": "张三",
    "name": "张三",
    "memo": "order 42",
    "out_request_no": "ORD-20261201-0001",
    "idempotency_key": "order-42-item-1",
    "channel": "sim",
    "request_id": "WD2026120100",
    "message": "Account 6230050417287053 has 10.00 available, short by 2.50.",
    "bank": "中国工商银行",
    "currency": "CNY",
}

#: Tried in order against a pattern no table entry names.
_PATTERN_CANDIDATES = ("100.00", "0.05", "1", "0.085", "P001", "6228480402564890018", "2026-12-01", "string")


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example_for(schema: dict, components: dict, depth: int = 0, name: str = "") -> Any:
    """A value valid against ``schema``: its own example, else its enum's first, else (a property ``name`` known to
    ``_NAME_EXAMPLES``) a telling one, else a plain value of its type."""
    schema = _resolve(schema, components)
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if "enum" in schema:
        values = [value for value in schema["enum"] if value not in ("", None)]
        return values[0] if values else schema["enum"][0]
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            if combinator == "allOf":
                merged: dict = {}
                for part in schema["allOf"]:
                    value = example_for(part, components, depth + 1)
                    if isinstance(value, dict):
                        merged.update(value)
                    else:
                        return value
                return merged
            return example_for(schema[combinator][0], components, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        if depth > 6:
            return {}
        result = {}
        for prop_name, prop in schema.get("properties", {}).items():
            result[prop_name] = example_for(prop, components, depth + 1, prop_name)
        return result
    if kind == "array":
        return [example_for(schema.get("items", {}), components, depth + 1)]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "string":
        named = _NAME_EXAMPLES.get(name)
        if named is not None and "format" not in schema and ("pattern" not in schema or re.search(schema["pattern"], named)):
            if not schema.get("maxLength") or len(named) <= schema["maxLength"]:
                return named
        if schema.get("pattern") in _PATTERN_EXAMPLES:
            return _PATTERN_EXAMPLES[schema["pattern"]]
        if "pattern" in schema:
            for candidate in _PATTERN_CANDIDATES:
                if re.search(schema["pattern"], candidate):
                    return candidate
        if schema.get("format") in _FORMAT_EXAMPLES:
            return _FORMAT_EXAMPLES[schema["format"]]
        return "string" if not schema.get("minLength") or schema["minLength"] <= 6 else "s" * schema["minLength"]
    return None


# -- the hooks --------------------------------------------------------------------------------


def preprocessing_hook(endpoints, **kwargs):
    """Publish each route once, without its trailing slash (both forms are served: ``backoffice.api.slash_optional``)."""
    return [endpoint for endpoint in endpoints if not endpoint[0].endswith("/")]


def _operations(result):
    for path, item in result.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                yield path, method, item[method]


def _rewrite_refs(node, renames: dict[str, str]):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name in renames:
                node["$ref"] = f"#/components/schemas/{renames[name]}"
        for value in node.values():
            _rewrite_refs(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, renames)


def _merge_components(result):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    renames: dict[str, str] = {}
    for target, names in MERGED_COMPONENTS.items():
        present = [name for name in names if name in schemas]
        if not present:
            continue
        body = schemas[present[0]]
        for name in present:
            if name != target:
                renames[name] = target
        for name in present:
            if name != target:
                del schemas[name]
        schemas[target] = body
    _rewrite_refs(result, renames)


def _used_refs(node, found: set[str]):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _used_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _used_refs(value, found)


def _drop_unused_components(result):
    schemas = result.get("components", {}).get("schemas", {})
    while True:
        used: set[str] = set()
        _used_refs(result.get("paths", {}), used)
        # walk from the paths through the components they reach
        reached: set[str] = set()
        todo = list(used)
        while todo:
            name = todo.pop()
            if name in reached or name not in schemas:
                continue
            reached.add(name)
            inner: set[str] = set()
            _used_refs(schemas[name], inner)
            todo.extend(inner - reached)
        unused = [name for name in schemas if name not in reached]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def _error_responses(path: str, method: str, operation: dict, schemas: dict) -> list[str]:
    """Replace each 4xx response by ``oneOf`` its codes' components; return the description lines of its errors."""
    signed = bool(operation.get("security"))
    lines = []
    for status_text, response in sorted(operation.get("responses", {}).items()):
        status = int(status_text) if status_text.isdigit() else 0
        if status < 400:
            continue
        codes = codes_in(response.get("description", ""), status)
        if signed:
            extra = list(SIGNED_CODES.get(status, []))
            if status == 403 and not path.startswith(PLATFORM_PATH):
                extra.append("platform_scope_refused")
            codes += [code for code in extra if code not in codes]
        if not codes:
            raise ValueError(f"{method.upper()} {path}: the {status} answer names no catalogued code")
        refs = []
        for code in codes:
            name = error_component_name(code)
            schemas.setdefault(name, error_component(code))
            refs.append({"$ref": f"#/components/schemas/{name}"})
        if len(refs) == 1:
            schema = refs[0]
        else:
            schema = {
                "oneOf": refs,
                "discriminator": {
                    "propertyName": "code",
                    "mapping": {code: ref["$ref"] for code, ref in zip(codes, refs, strict=True)},
                },
            }
        first = codes[0]
        example = {"code": first, "message": ERROR_CODES[first][1]}
        if first == "validation_error":
            example["fields"] = {"amount": ["An amount has at most two decimals."]}
        response["content"] = {"application/json": {"schema": schema, "example": example}}
        lines.append(f"- **{status}**: " + "; ".join(f"`{code}` ({ERROR_CODES[code][1].rstrip('.')})" for code in codes))
        response["description"] = response.get("description") or ", ".join(codes)
    return lines


def _examples(operation: dict, components: dict):
    body = operation.get("requestBody", {}).get("content", {})
    for media in body.values():
        if "example" not in media and "examples" not in media and "schema" in media:
            media["example"] = example_for(media["schema"], components)
    for status_text, response in operation.get("responses", {}).items():
        if not status_text.startswith("2"):
            continue
        for media in response.get("content", {}).values():
            if "example" not in media and "examples" not in media and "schema" in media:
                media["example"] = example_for(media["schema"], components)


def _tidy(node):
    """OpenAPI 3.0 details linters refuse: ``nullable`` beside ``allOf`` needs a ``type``; a ``default`` of ``null``
    on a property that is not nullable (a nested serializer's) says nothing."""
    if isinstance(node, dict):
        if node.get("nullable") and "allOf" in node and "type" not in node:
            node["type"] = "object"
        if "default" in node and node["default"] is None and not node.get("nullable"):
            del node["default"]
        for value in node.values():
            _tidy(value)
    elif isinstance(node, list):
        for value in node:
            _tidy(value)


def postprocessing_hook(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    _tidy(result)
    _merge_components(result)
    for path, method, operation in _operations(result):
        operation["parameters"] = [
            parameter
            for parameter in operation.get("parameters", [])
            if not (
                parameter.get("in") == "header"
                and parameter.get("name") in ("X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature")
            )
        ]
        if not operation["parameters"]:
            operation.pop("parameters", None)
        lines = _error_responses(path, method, operation, schemas)
        description = (operation.get("description") or operation.get("summary") or "").strip()
        if lines:
            description = f"{description}\n\n**Errors** (`code` by HTTP status):\n\n" + "\n".join(lines)
        operation["description"] = description
        _examples(operation, schemas)
    schemas.pop("Error", None)
    _drop_unused_components(result)
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result
