"""One date format on the console and the portals, in both languages (settings.FORMAT_MODULE_PATH).

Bank time is shown as ``2026-12-08 01:30`` (Asia/Shanghai) everywhere, also in the admin lists that
Django formats itself; the formats not named here (the input formats, the date hierarchy's month
and day captions) are Django's own for the language.
"""
