"""Custody's refusals: stable codes (part of the API contract), HTTP status, bilingual messages."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError


class PlatformNotActiveError(DomainError):
    """The platform's state does not allow this (e.g. a sub-account while under review)."""

    code, http_status = "platform_not_active", 409
    message = _("Platform {platform} is {state}: it may not do this now. / 平台当前状态不允许此操作。")


class DuplicateSubAccountError(DomainError):
    """R-DEP-01: one sub-account per platform, party and role. ``data.account`` is the existing one."""

    code, http_status = "duplicate_sub_account", 409
    message = _(
        "This client already has a {role} sub-account on platform {platform} ({account}). / 该客户在本平台已开立此角色子账户。"
    )


class DuplicatePlatformError(DomainError):
    code, http_status = "duplicate_platform", 409
    message = _("A platform with code {code} already exists. / 平台编号已存在。")


class IdentityMismatchError(DomainError):
    """The bank knows this ID number or credit code under another name: the party is not reused."""

    code, http_status = "identity_mismatch", 422
    message = _("The name does not match the bank's record of this identity number. / 姓名与本行登记的证件信息不符。")


class DocumentsIncompleteError(DomainError):
    code, http_status = "documents_incomplete", 409
    message = _("The platform's documents are incomplete or not accepted: {missing}. / 平台资料不全或未核验通过。")


class PlatformHasMoneyError(DomainError):
    code, http_status = "platform_has_money", 409
    message = _("The platform's accounts still hold money or holds: {accounts}. / 平台账户仍有余额或冻结。")
