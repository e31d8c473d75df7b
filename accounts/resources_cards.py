"""Imports (django-import-export) for card binding: operators load more BIN rows from CSV/XLSX.

Rows are matched on the BIN prefix: a new prefix is created, a known one updated, an unchanged
one skipped; each row is validated by the model (6-8 digit prefix, DC/CC/SCC/PC, length 15-19)
and the whole file is imported in one transaction, so a file with a bad row changes nothing.
"""

from __future__ import annotations

from import_export import fields, resources, widgets

from accounts.cards_models import BinEntry


class BinEntryResource(resources.ModelResource):
    """One row per BIN prefix: ``prefix, bank_name, card_type, card_length``."""

    prefix = fields.Field(attribute="prefix", column_name="prefix", widget=widgets.CharWidget())
    bank_name = fields.Field(attribute="bank_name", column_name="bank_name", widget=widgets.CharWidget())
    card_type = fields.Field(attribute="card_type", column_name="card_type", widget=widgets.CharWidget())
    card_length = fields.Field(attribute="card_length", column_name="card_length", widget=widgets.IntegerWidget())

    class Meta:
        model = BinEntry
        fields = ("prefix", "bank_name", "card_type", "card_length")
        import_id_fields = ("prefix",)
        skip_unchanged = True
        report_skipped = True
        use_transactions = True
        clean_model_instances = True

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, collect_failed_rows=False, **kwargs):
        """All or nothing for every caller (the admin does this too): a row that fails validation
        rolls the whole file back."""
        kwargs.setdefault("rollback_on_validation_errors", True)
        return super().import_data(
            dataset,
            dry_run=dry_run,
            raise_errors=raise_errors,
            use_transactions=use_transactions,
            collect_failed_rows=collect_failed_rows,
            **kwargs,
        )

    def before_import_row(self, row, **kwargs):
        # Spreadsheets turn "621660" into 621660.0 and pad text: normalise before matching.
        prefix = row.get("prefix")
        if isinstance(prefix, float) and prefix.is_integer():
            row["prefix"] = str(int(prefix))
        elif prefix is not None:
            row["prefix"] = str(prefix).strip()
        if row.get("card_type") is not None:
            row["card_type"] = str(row["card_type"]).strip().upper()
