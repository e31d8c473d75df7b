"""The partner-bank REST API at /api/v1/: signed requests, idempotent money movement (see views.py)."""
