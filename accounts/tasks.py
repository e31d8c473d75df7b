"""Celery tasks of the accounts app: thin, idempotent wrappers around services (ids in)."""

from __future__ import annotations

from celery import shared_task

# -- account states and judicial freezes (beat jobs) -------------------------------------


@shared_task(name="accounts.suspend_unused", acks_late=True)
def suspend_unused_task() -> list[int]:
    """R-ACC-16: suspend non-counter business of accounts unused since opening."""
    from accounts.dormancy import accounts_suspend_unused

    return accounts_suspend_unused()


@shared_task(name="accounts.apply_dormancy", acks_late=True)
def apply_dormancy_task() -> list[int]:
    """R-ACC-17: apply the active dormancy policies."""
    from accounts.dormancy import dormancy_apply

    return dormancy_apply()


@shared_task(name="accounts.entity_dormancy", acks_late=True)
def entity_dormancy_task() -> dict[str, list[int]]:
    """R-ACC-18: notify dormant entity accounts; deem closed those 30 days past their notice."""
    from accounts.dormancy import entity_dormancy_run

    return entity_dormancy_run()


@shared_task(name="accounts.release_expired_freezes", acks_late=True)
def release_expired_freezes_task() -> list[int]:
    """Expire judicial freezes past their expiry and let queued ones take effect."""
    from accounts.freezes import freezes_release_expired

    return freezes_release_expired()
