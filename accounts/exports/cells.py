"""Cell values that cannot attack the reader of an export, in CSV and XLSX alike.

A text cell that a spreadsheet would evaluate (it starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return) is prefixed with a single quote (the OWASP CSV-injection rule); control
characters that XLSX cannot hold are dropped. Numbers, dates and money are written as typed values
by the writers, never from user text.
"""

from __future__ import annotations

import re

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 forbids these characters; openpyxl raises IllegalCharacterError on them.
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def neutralise_formula(value):
    """``'=HYPERLINK(...)`` for ``=HYPERLINK(...)``: a text a spreadsheet would evaluate is prefixed
    with a single quote; anything else (other text, numbers, dates, None) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_text(value) -> str:
    """Any text (a memo, a name, a label) as a cell: formula-neutralised, without XML-illegal characters."""
    if value is None:
        return ""
    return neutralise_formula(_ILLEGAL.sub("", str(value)))
