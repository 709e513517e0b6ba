"""What every `botarmy` command module shares: the consoles, failing with one clear line, finding `.bmad-core`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bmad import Catalog, load_bmad
from botarmy.settings import get_settings

out = Console(soft_wrap=True)  # soft wrap: one diagnostic is one line, whatever the terminal width
err = Console(stderr=True, soft_wrap=True)
OWN_BMAD = Path(__file__).resolve().parents[2] / ".bmad-core"

BmadDirs = Annotated[
    list[Path] | None,
    typer.Option("--bmad-dir", help="A .bmad-core folder; repeat to layer (later folders override earlier ones)."),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def bmad_dirs(dirs: list[Path] | None) -> list[Path]:
    """The folders given, else BOTARMY_BMAD_DIR, else ./.bmad-core, else our own."""
    if not dirs:
        configured = get_settings().bmad_dir
        if configured is not None:
            if not configured.is_dir():
                raise fail(f"BOTARMY_BMAD_DIR={configured}: no such directory")
            return [configured]
        local = Path(".bmad-core")
        return [local if local.is_dir() else OWN_BMAD]
    for d in dirs:
        if not d.is_dir():
            raise fail(f"--bmad-dir {d}: no such directory")
    return dirs


def load_catalog(dirs: list[Path] | None) -> Catalog:
    return load_bmad(bmad_dirs(dirs))
