"""The partner API schema as a partner's engineer meets it (issue #13): the project's own lint of what Spectral's
``oas`` rules check (descriptions, unique operationIds, defined tags, contact, servers, no unused component, valid
examples, no trailing slash), plus the contract's own rules: signing as a security scheme, enums named by their
domain noun, per-operation error codes with a documented ``data``, string ids in paths, no duplicate components,
and the README's signing helper run as printed against the API."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import requests

from accounts.tests.api_helpers import make_credentials, signed
from backoffice.schema import ERROR_CODES

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[4] / "README.md"
METHODS = ("get", "post", "put", "patch", "delete")
DOMAIN_NOUNS = (
    "Account",
    "Card",
    "Channel",
    "Confirmation",
    "Entry",
    "Fee",
    "Hold",
    "Loan",
    "Merchant",
    "MicroDeposit",
    "Otp",
    "Party",
    "Payment",
    "Platform",
    "Reconciliation",
    "Refund",
    "Repayment",
    "Settlement",
    "SubAccount",
    "Transfer",
    "Withdrawal",
)
GENERIC_ENUM = re.compile(
    r"^(State|Kind|Type|Reason|Role|Tier|Side|Status|Method|Mode|Period|Purpose|Basis|Outcome|Origin|Match|Funder|"
    r"Rounding|DayCount|Settles|Strategy|Verification|Payer)[0-9a-fA-F]*Enum$|[0-9a-f]{3}Enum$"
)


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _json_schema(node):
    """OpenAPI 3.0 schema -> JSON Schema 2020-12: ``nullable`` becomes a null type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str) and "allOf" not in node and "$ref" not in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        else:
            node.pop("type", None)
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def _validate(schema, media_schema, value):
    root = {**_json_schema(media_schema), "components": {"schemas": _json_schema(schema["components"]["schemas"])}}
    jsonschema.Draft202012Validator(root).validate(value)


# -- what Spectral's oas rules check --------------------------------------------------------------


def test_schema_info_contact_servers_and_tags(schema):
    assert schema["info"]["contact"]["email"]
    assert schema["servers"] and all(not server["url"].endswith("/") for server in schema["servers"])
    tags = {tag["name"]: tag.get("description") for tag in schema["tags"]}
    assert all(tags.values()), tags
    used = {tag for _path, _method, operation in _operations(schema) for tag in operation["tags"]}
    assert used <= set(tags), used - set(tags)


def test_every_operation_has_a_unique_id_summary_description_and_one_defined_tag(schema):
    ids = [operation["operationId"] for _path, _method, operation in _operations(schema)]
    assert len(ids) == len(set(ids)) > 40
    for path, method, operation in _operations(schema):
        assert operation.get("summary"), (method, path)
        description = operation.get("description", "")
        assert description.split("**Errors**")[0].strip() not in ("", operation["summary"]), (method, path)
        assert len(operation["tags"]) == 1, (method, path)


def test_no_path_ends_with_a_slash(schema):
    assert [path for path in schema["paths"] if path.endswith("/")] == []


def test_no_unused_component(schema):
    text = json.dumps(schema["paths"]) + json.dumps(schema["components"]["schemas"])
    unused = [name for name in schema["components"]["schemas"] if f'"#/components/schemas/{name}"' not in text]
    assert unused == []


def test_every_operation_has_request_and_response_examples_valid_against_their_schemas(schema):
    for path, method, operation in _operations(schema):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if media_type == "application/json":
                assert "example" in media or "examples" in media, (method, path)
                for example in [media.get("example")] if "example" in media else media["examples"].values():
                    _validate(schema, media["schema"], example if "examples" not in media else example["value"])
        examples = 0
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if media_type != "application/json":
                    continue
                values = [media["example"]] if "example" in media else [e["value"] for e in media.get("examples", {}).values()]
                assert values, (method, path, status)
                for value in values:
                    try:
                        _validate(schema, media["schema"], value)
                    except jsonschema.ValidationError as exc:
                        raise AssertionError(f"{method} {path} {status}: {exc.message}") from exc
                examples += status.startswith("2")
        binary = all(
            media_type != "application/json"
            for status, response in operation["responses"].items()
            if status.startswith("2")
            for media_type in response.get("content", {})
        )
        assert examples or binary, (method, path)


# -- signing as a security scheme -------------------------------------------------------------------


def test_signing_is_one_api_key_scheme_stating_the_canonical_string_and_no_header_parameters(schema):
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes) == ["signature"]
    scheme = schemes["signature"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Client-Id")
    for line in ("METHOD", "PATH_WITH_QUERY", "TIMESTAMP", "NONCE", "BODY_SHA256", "exact body bytes"):
        assert line in scheme["description"]
    for path, method, operation in _operations(schema):
        names = {p["name"] for p in operation.get("parameters", [])}
        assert not names & {"X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature"}, (method, path)
        if "/callbacks" in path:  # a channel signs its own callbacks, with its key, in the body
            assert not operation.get("security"), path
        else:
            assert operation["security"] == [{"signature": []}], (method, path)


# -- enums ------------------------------------------------------------------------------------------


def test_enums_are_named_by_their_domain_noun(schema):
    enums = [name for name, body in schema["components"]["schemas"].items() if "enum" in body]
    assert len(enums) > 30
    for name in enums:
        assert name.endswith("Enum") and not GENERIC_ENUM.search(name), name
        assert name.startswith(DOMAIN_NOUNS), name


@pytest.mark.parametrize(
    ("component", "field", "enum"),
    [
        ("Account", "tier", "AccountTierEnum"),
        ("Account", "role", "AccountRoleEnum"),
        ("Account", "state", "AccountStateEnum"),
        ("Hold", "reason", "HoldReasonEnum"),
        ("Hold", "state", "HoldStateEnum"),
        ("Withdrawal", "state", "WithdrawalStateEnum"),
        ("Recharge", "state", "ChannelRequestStateEnum"),
        ("AccountEntry", "side", "EntrySideEnum"),
        ("AccountEntry", "kind", "TransferKindEnum"),
        ("Transfer", "kind", "TransferKindEnum"),
    ],
)
def test_response_choice_fields_are_enums(schema, component, field, enum):
    prop = schema["components"]["schemas"][component]["properties"][field]
    refs = [prop.get("$ref")] + [part.get("$ref") for part in prop.get("allOf", []) + prop.get("oneOf", [])]
    assert f"#/components/schemas/{enum}" in refs, prop


# -- errors ---------------------------------------------------------------------------------------


def _error_codes(schema, response) -> list[str]:
    content = response["content"]["application/json"]["schema"]
    refs = [part["$ref"] for part in content.get("oneOf", [content])]
    codes = []
    for ref in refs:
        body = schema["components"]["schemas"][_name(ref)]
        assert body["properties"]["code"]["enum"] and len(body["properties"]["code"]["enum"]) == 1
        assert "data" in body["properties"]
        codes.append(body["properties"]["code"]["enum"][0])
    if "oneOf" in content:
        assert content["discriminator"]["propertyName"] == "code"
        assert set(content["discriminator"]["mapping"]) == set(codes)
    return codes


def test_every_error_response_is_one_of_its_operations_codes_each_with_its_status(schema):
    for path, method, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            codes = _error_codes(schema, response)
            assert codes, (method, path, status)
            for code in codes:
                assert ERROR_CODES[code][0] == int(status), (method, path, status, code)
                assert f"`{code}`" in operation["description"], (method, path, code)
    assert "Error" not in schema["components"]["schemas"]  # the untyped catch-all is gone


def test_error_data_is_documented_per_code(schema):
    components = schema["components"]["schemas"]
    assert set(components["InsufficientFundsError"]["properties"]["data"]["properties"]) >= {"available", "shortfall"}
    assert "state" in components["InvalidStateError"]["properties"]["data"]["properties"]
    assert "fields" in components["ValidationError"]["required"]


def _codes_of(schema, path, method, status):
    return _error_codes(schema, schema["paths"][path][method]["responses"][str(status)])


def _matches(schema, path, method, status, response):
    """The answer's status is documented, its code is one the operation lists, and the body fits the schema."""
    assert str(response.status_code) == str(status), response.content
    body = response.json()
    assert body["code"] in _codes_of(schema, path, method, status), body
    media = schema["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
    _validate(schema, media["schema"], body)
    return body


@pytest.fixture
def accounts(make_account, fund):
    return fund(make_account(), "10.00"), make_account()


def test_transfer_create_refusals_match_the_schema(schema, client, accounts):
    payer, payee = accounts
    api = signed(client, "transfers:write", f"account:{payer.number}", f"account:{payee.number}")
    path, url = "/api/v1/transfers", "/api/v1/transfers/"
    transfer = {"from_account": payer.number, "to_account": payee.number, "amount": "99.00"}
    body = _matches(schema, path, "post", 409, api.post(url, transfer))
    assert body["code"] == "insufficient_funds" and set(body["data"]) >= {"available", "shortfall"}
    assert _matches(schema, path, "post", 400, api.post(url, {**transfer, "amount": 1}))["code"] == "validation_error"
    refused = api.post(url, transfer, idempotency_key=None)
    assert _matches(schema, path, "post", 400, refused)["code"] == "idempotency_key_required"
    missing = api.post(url, {**transfer, "to_account": "6200000000000000"})
    assert _matches(schema, path, "post", 404, missing)["code"] == "not_found"
    forged = api.post(url, transfer, headers={"X-Signature": "0" * 64})
    assert _matches(schema, path, "post", 401, forged)["code"] == "bad_signature"
    unscoped = signed(client, f"account:{payer.number}", f"account:{payee.number}").post(url, transfer)
    assert _matches(schema, path, "post", 403, unscoped)["code"] == "forbidden_scope"


def test_hold_release_twice_is_the_documented_invalid_state(schema, client, accounts):
    payer, _payee = accounts
    api = signed(client, "holds:write", f"account:{payer.number}")
    hold = api.post("/api/v1/holds/", {"account": payer.number, "amount": "1.00"}).json()
    assert api.post(f"/api/v1/holds/{hold['id']}/release/").status_code == 200
    again = api.post(f"/api/v1/holds/{hold['id']}/release/")
    body = _matches(schema, "/api/v1/holds/{hold_id}/release", "post", 409, again)
    assert body["code"] == "invalid_state" and body["data"]["state"] == "released"


def test_detail_refusals_match_the_schema(schema, client, accounts):
    payer, _payee = accounts
    api = signed(client, "accounts:read", f"account:{payer.number}")
    path = "/api/v1/withdrawals/{withdrawal_id}"
    assert _matches(schema, path, "get", 404, api.get("/api/v1/withdrawals/123456/"))["code"] == "not_found"
    unsigned = client.get("/api/v1/withdrawals/123456")
    assert _matches(schema, path, "get", 401, unsigned)["code"] == "missing_signature_headers"
    platform = signed(client, "platform:P001").get(f"/api/v1/accounts/{payer.number}/")
    assert _matches(schema, "/api/v1/accounts/{number}", "get", 403, platform)["code"] == "platform_scope_refused"


# -- ids and paths --------------------------------------------------------------------------------


def test_path_ids_have_the_type_of_the_ids_in_the_answers(schema):
    for path, method, operation in _operations(schema):
        for parameter in schema["paths"][path].get("parameters", []) + operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                assert parameter["schema"]["type"] == "string", (method, path, parameter)
    components = schema["components"]["schemas"]
    for name in ("Card", "Recharge", "Withdrawal", "Payment", "RefundPayout", "Hold", "Transfer", "Loan", "LoanBid"):
        assert components[name]["properties"]["id"]["type"] == "string", name


def _id_properties(node, where):
    """Every ``(where, name, schema)`` of a property named ``id`` or ending in ``_id``, at any depth (request bodies'
    nested objects such as ``authorization`` and the errors' ``data`` included)."""
    if isinstance(node, list):
        for item in node:
            yield from _id_properties(item, where)
    elif isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict) and (name == "id" or name.endswith("_id")):
                yield where, name, prop
        for key, value in node.items():
            yield from _id_properties(value, f"{where}/{key}")


def test_every_id_property_and_every_path_parameter_is_a_string(schema):
    """Issue #13: one id type everywhere. Every property named ``id`` or ``*_id`` (answers, requests, error data) and
    every path parameter (ids, account numbers, platform codes, dates) is ``type: string``."""
    found = list(_id_properties(schema, "#"))
    assert len(found) > 20
    wrong = [(where, name, prop) for where, name, prop in found if prop.get("type") != "string"]
    assert wrong == []
    for path, method, operation in _operations(schema):
        for parameter in schema["paths"][path].get("parameters", []) + operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"]["type"] == "string", (method, path, parameter["name"])
    components = schema["components"]["schemas"]
    references = {
        "Account": "party",
        "AccountEntry": "transfer",
        "LoanBid": "loan",
        "RepaymentCreated": "transfer",
        "RepaymentDebtSettled": "repayment",
        "InstructionConfirmation": "confirmation",
        "BidConfirmationPending": "loan",
        "AccountOpenInputRequest": "party",
    }
    for name, reference in references.items():
        assert components[name]["properties"][reference]["type"] == "string", (name, reference)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/cards/abc/",
        "/api/v1/cards/abc",
        "/api/v1/recharges/1.5/",
        "/api/v1/withdrawals/99999999999999999999999/",
        "/api/v1/payments/-1/",
        "/api/v1/settlements/%00/",
    ],
)
def test_a_malformed_path_id_is_a_json_404_never_a_500(client, url):
    api = signed(client, "*")
    response = api.get(url)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_routes_answer_alike_with_and_without_the_trailing_slash(client, accounts):
    payer, _payee = accounts
    api = signed(client, "accounts:read", f"account:{payer.number}")
    with_slash = api.get(f"/api/v1/accounts/{payer.number}/")
    without = api.get(f"/api/v1/accounts/{payer.number}")
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.json() == without.json()


def test_no_two_components_are_identical(schema):
    bodies: dict[str, list[str]] = {}
    for name, body in schema["components"]["schemas"].items():
        bodies.setdefault(json.dumps(body, sort_keys=True), []).append(name)
    assert [names for names in bodies.values() if len(names) > 1] == []


# -- the README's signing helper, run as printed ---------------------------------------------------------


def _readme_helper():
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- signing-helper:start -->", 1)[1].split("<!-- signing-helper:end -->", 1)[0]
    code = block.strip().removeprefix("```python").removesuffix("```")
    namespace: dict = {}
    exec(compile(code, "README.md:signing-helper", "exec"), namespace)  # noqa: S102 - the README's own code
    return namespace["PartnerSignature"]


def _send(client, prepared):
    """A prepared request sent through Django's test client exactly: the same path, headers and body bytes."""
    path = prepared.path_url
    headers = {name: value for name, value in prepared.headers.items() if name.lower() not in ("content-length",)}
    content_type = headers.pop("Content-Type", "application/json")
    if prepared.method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, data=prepared.body, content_type=content_type, headers=headers)


def test_readme_signing_helper_signs_requests_prepared_by_requests(client, accounts):
    payer, payee = accounts
    credentials = make_credentials("transfers:write", "accounts:read", f"account:{payer.number}", f"account:{payee.number}")
    auth = _readme_helper()(credentials.client_id, credentials.secret)
    transfer = {"from_account": payer.number, "to_account": payee.number, "amount": "2.50", "memo": "订单 42"}
    request = requests.Request(
        "POST", "http://testserver/api/v1/transfers", json=transfer, headers={"Idempotency-Key": "readme-1"}, auth=auth
    )
    response = _send(client, request.prepare())
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "2.50"
    read = requests.Request("GET", f"http://testserver/api/v1/accounts/{payer.number}/entries?page_size=5", auth=auth)
    assert _send(client, read.prepare()).status_code == 200


class _HttpxLikeRequest:
    """What the helper reads of an ``httpx.Request`` (httpx is the generated client's transport; it is not installed
    in this project): ``method``, ``url.raw_path`` (path and query, bytes), ``read()`` (the body bytes) and
    ``headers``."""

    def __init__(self, method: str, raw_path: bytes, body: bytes, headers: dict):
        self.method, self.url, self._body, self.headers = method, SimpleNamespace(raw_path=raw_path), body, dict(headers)

    def read(self) -> bytes:
        return self._body


def test_readme_signing_helper_signs_what_an_httpx_request_carries(client, accounts):
    payer, payee = accounts
    credentials = make_credentials("transfers:write", f"account:{payer.number}", f"account:{payee.number}")
    auth = _readme_helper()(credentials.client_id, credentials.secret)
    body = json.dumps({"from_account": payer.number, "to_account": payee.number, "amount": "1.25"}).encode()
    request = auth(_HttpxLikeRequest("POST", b"/api/v1/transfers", body, {"Idempotency-Key": "readme-2"}))
    response = client.post("/api/v1/transfers", data=body, content_type="application/json", headers=copy.copy(request.headers))
    assert response.status_code == 201, response.json()
