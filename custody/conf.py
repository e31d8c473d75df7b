"""Every setting of the ``custody`` app, read at call time, each with its default.

Like ``accounts.conf``: Django's settings if set there (tests override them), else the environment
variable of the same name, else the default below.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

DEFAULTS = {
    # Where platform documents (licence, regulator filing, ICP) are stored: a private folder outside
    # the static and media roots, never served by URL; staff read them through the console only.
    "CUSTODY_DOCUMENTS_ROOT": "",
}


def get(name: str):
    if hasattr(settings, name):
        return getattr(settings, name)
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return DEFAULTS[name]
    return raw.strip()


def documents_root() -> str:
    """The private folder of platform documents (default ``<repo>/var/private/custody``)."""
    return str(get("CUSTODY_DOCUMENTS_ROOT") or Path(settings.BASE_DIR) / "var" / "private" / "custody")
