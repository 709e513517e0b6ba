"""The API fixtures, for the hostile-input tests that go through the API (bmad_dir and live_settings are in
tests/conftest.py)."""

from tests.api.conftest import down_settings

__all__ = ["down_settings"]
