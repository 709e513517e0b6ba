"""The `botarmy` command line: the roof of the house (it imports everything; nothing imports it)."""

from botarmy.cli.main import app, main

__all__ = ["app", "main"]
