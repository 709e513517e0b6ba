"""A table as a person on a terminal sees it (rich), and as plain aligned lines everywhere else: no boxes, no
colour, nothing truncated or wrapped, so a pipe or a log keeps every id whole."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text


def print_table(console: Console, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Cells may hold rich markup (`[red]not set[/red]`): styled on a terminal, plain text elsewhere."""
    if console.is_terminal:
        table = Table(title=title)
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    lines = [list(columns), *[[Text.from_markup(cell).plain for cell in r] for r in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    if title:
        console.out(title, highlight=False)
    for line in lines:
        console.out("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip(), highlight=False)
