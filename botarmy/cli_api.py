"""CLI command that serves the REST API. Registered on the main app by `register`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `botarmy` app."""
    return None
