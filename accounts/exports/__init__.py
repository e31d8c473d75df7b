"""Exports in constant memory: account statements and the trial balance as CSV (streamed row by
row, with a BOM) and XLSX (openpyxl's write-only mode, numbers as numbers, dates as dates), and
export jobs (``ExportJob``) that build a large file in a Celery worker with its progress.

A domain package above the ledger and payments: faces call it, it never imports a face.
"""
