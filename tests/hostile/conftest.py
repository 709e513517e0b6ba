"""The API fixtures, for the hostile-input tests that go through the API."""

from tests.api.conftest import bmad_dir, down_settings, live_settings

__all__ = ["bmad_dir", "down_settings", "live_settings"]
