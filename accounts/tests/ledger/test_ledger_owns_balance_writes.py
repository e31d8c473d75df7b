"""The house rule "every balance write goes through the ledger package", where the import contracts cannot see it.

An import contract (pyproject.toml, import-linter) keeps the faces and the other domain packages from importing the
ledger's internals, but a balance write written as SQL (a raw ``UPDATE accounts_account``, an ``INSERT INTO
accounts_entry``, a call of the ledger's server-side functions ``ledger_post_transfer()``,
``ledger_post_transfers()``, ``api_post_transfer()``) is a string, not an import. This test reads the application's
Python source and requires every such statement to be in ``accounts/ledger/`` (migrations, which create the
functions, and tests are left out).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("accounts", "backoffice", "custody", "merchants")
LEDGER = ROOT / "accounts" / "ledger"

BALANCE_WRITE = re.compile(
    r"UPDATE\s+accounts_(?:account|entry|transfer|hold)\b"
    r"|INSERT\s+INTO\s+accounts_(?:account|entry|transfer|hold)\b"
    r"|\b(?:SELECT|FROM)\b.*\b(?:ledger_post_transfers?|api_post_transfer)\s*\(",
    re.IGNORECASE,
)


def application_sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "migrations" in parts or "tests" in parts:
                continue
            yield path


def test_every_balance_write_in_sql_is_in_the_ledger_package():
    outside = []
    for path in application_sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if BALANCE_WRITE.search(line) and LEDGER not in path.parents:
                outside.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert outside == [], "balance writes in SQL outside accounts/ledger/:\n" + "\n".join(outside)


def test_the_rule_sees_the_ledgers_own_calls():
    """The pattern finds the three function calls where they are (so an empty list above means something)."""
    found = {
        match.group(0).split("(")[0].split()[-1]
        for path in sorted(LEDGER.rglob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if (match := BALANCE_WRITE.search(line))
    }
    assert {"ledger_post_transfer", "ledger_post_transfers", "api_post_transfer"} <= found
