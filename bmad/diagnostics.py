"""Problems found in a BMAD definition, each pointing at `path:line:col`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one file. `line` and `col` are 1-based; 0 means 'whole file'."""

    path: str
    line: int
    col: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        where = f"{self.path}:{self.line}:{self.col}" if self.line else self.path  # line 0: the whole file
        return f"{where}: {prefix}{self.message}"


class DefinitionError(Exception):
    """Raised when a definition cannot be used; carries every problem found, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))
