"""`completion_criteria:` of a workflow, checked when its run ends (the plan's last step, see bmad/compile.py).

`<document> exists` is checked: the run has the document, or a copy of it from an iteration of a loop
(`chapter-2/draft-manuscript.md`); when it has not, the run fails with a message naming the criterion. Any other
criterion cannot be checked mechanically: `validate` warns about it and the run's report lists it unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CHECK_AGENT = "botarmy"  # the criteria step's agent: BotArmy checks them, no model is called
CHECK_STEP = "completion-criteria"

_EXISTS = re.compile(r"^\s*(\S+)\s+exists\s*$", re.IGNORECASE)


def document_of(criterion: str) -> str | None:
    """The document `<document> exists` names; None for a criterion of another kind."""
    found = _EXISTS.match(criterion)
    return found.group(1) if found else None


def holds(document: str, names: Iterable[str]) -> bool:
    return any(n == document or n.endswith(f"/{document}") for n in names)


def report(criteria: list[str], names: Iterable[str]) -> tuple[str, list[str]]:
    """The criteria report (Markdown) and the criteria that failed, in order."""
    available = list(names)
    lines = ["# Completion criteria", ""]
    failed: list[str] = []
    for criterion in criteria:
        document = document_of(criterion)
        if document is None:
            lines.append(f"- [ ] {criterion} — not checked: only '<document> exists' is checked mechanically")
        elif holds(document, available):
            lines.append(f"- [x] {criterion}")
        else:
            lines.append(f"- [ ] {criterion} — FAILED: no document {document} was written")
            failed.append(criterion)
    return "\n".join(lines) + "\n", failed
