"""Re-encrypt every secret and every piece of personal data under the first key of
``PII_ENCRYPTION_KEYS`` (README "Security", key rotation).

A column named ``*_encrypted`` holds a ``backoffice.crypto`` ciphertext, whatever app declares it:
API client secrets (``ApiClient.secret_encrypted``), channels' callback secrets
(``callback_secret_encrypted``), and the ID numbers, mobiles and card numbers of parties and cards
(history tables included). The command finds those columns through the app registry (the kernel
imports no app) and rewrites each value with ``crypto.rotate``: decrypted with whichever configured
key opens it, encrypted with the first. Once it has run, the old keys can be removed from the list.

Rows are updated one by one with ``QuerySet.update`` (no ``save()``: no timestamps, no history
rows). Safe to run again: a value already under the first key is simply re-encrypted.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from backoffice import crypto

SUFFIX = "_encrypted"


def encrypted_columns() -> list[tuple[type[models.Model], str]]:
    """(model, field name) of every text column named ``*_encrypted``, in a stable order."""
    columns = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if field.name.endswith(SUFFIX) and isinstance(field, models.TextField | models.CharField):
                columns.append((model, field.name))
    return sorted(columns, key=lambda column: (column[0]._meta.label, column[1]))


def rotate_column(model: type[models.Model], field: str, *, dry_run: bool = False, batch: int = 500) -> int:
    """Re-encrypt one column; returns how many values were (or, in a dry run, would be) rewritten."""
    rotated = 0
    pks = list(model._default_manager.exclude(**{field: ""}).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), batch):
        chunk = pks[start : start + batch]
        with transaction.atomic():
            rows = model._default_manager.select_for_update().filter(pk__in=chunk).values_list("pk", field)
            for pk, ciphertext in rows:
                if not ciphertext:
                    continue
                fresh = crypto.rotate(ciphertext)  # raises PersonalDataError if no key opens it
                if not dry_run:
                    model._default_manager.filter(pk=pk).update(**{field: fresh})
                rotated += 1
    return rotated


class Command(BaseCommand):
    help = "Re-encrypt API client secrets, channel secrets and personal data under the first PII_ENCRYPTION_KEYS key."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="decrypt everything, write nothing")

    def handle(self, *args, dry_run=False, **options):
        total = 0
        for model, field in encrypted_columns():
            try:
                count = rotate_column(model, field, dry_run=dry_run)
            except crypto.PersonalDataError as exc:
                raise CommandError(f"{model._meta.label}.{field}: a value no configured key opens ({exc})") from exc
            total += count
            self.stdout.write(f"{model._meta.label}.{field}: {count}")
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        self.stdout.write(self.style.SUCCESS(f"{total} values {verb} under the first key."))
