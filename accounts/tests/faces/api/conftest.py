"""Fixtures of every partner-API test."""

import pytest


@pytest.fixture(autouse=True)
def static_root_exists(settings, tmp_path):
    """WhiteNoise warns (an error under filterwarnings=error) when STATIC_ROOT is missing: no collectstatic in tests."""
    settings.STATIC_ROOT = str(tmp_path)
