"""CLI commands over the BMAD catalog (render, teams). Registered on the main app by `register`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `botarmy` app."""
    return None
