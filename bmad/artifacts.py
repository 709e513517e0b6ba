"""Artifact names as a workflow step writes them, normalized to the names the engine stores.

`creates: prd.md (if needed)` → `prd.md`; `creates: v0_prompt (optional)` → `v0_prompt`; a folder
`prototype-stories/` → the one document `prototype-stories.md`; `requires: a.md, b.md` → two names. A prose
value such as `multiple documents per the document-project template` is not a file name: it becomes the step's
`step:` name when it has one (`service_analysis`), else a snake_case slug of the text.
"""

from __future__ import annotations

import re
from typing import Any

# Names meaning "every artifact produced so far"; never external inputs of a run.
COLLECTIVE = frozenset({"all_artifacts", "all_artifacts_in_project", "any_flagged_documents"})

_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)\s*$")


def slug(text: str, sep: str = "-") -> str:
    """Lower-case words joined by `sep`; keeps non-ASCII letters."""
    return re.sub(r"[\W_]+", sep, text.lower()).strip(sep)


def normalize(raw: str | None, step_name: str | None = None) -> str | None:
    """The artifact name in `raw` with trailing "(...)" annotations stripped; None for empty values."""
    if raw is None:
        return None
    name = str(raw).strip()
    while _TRAILING_NOTE.search(name):
        name = _TRAILING_NOTE.sub("", name)
    if not name:
        return None
    if name.endswith("/") and not re.search(r"\s", name):  # `prototype-stories/`: one document holding them
        name = name.rstrip("/") + ".md"
    if re.search(r"\s", name):
        return step_name or slug(name, "_")
    return name


def name_list(value: Any) -> list[str]:
    """`requires:` as written (a string or a list of strings) → normalized names, in order, de-duplicated."""
    items = value if isinstance(value, list) else [value]
    items = [part for item in items for part in _split(item)]
    names: list[str] = []
    for item in items:
        if isinstance(item, str):
            name = normalize(item)
            if name and name not in names:
                names.append(name)
    return names


def _split(item: Any) -> list[Any]:
    """`a.md, b.md` (as the game packs write it) is two names; prose with commas stays one."""
    if isinstance(item, str) and "," in item:
        parts = [p.strip() for p in item.split(",")]
        if all(p and not re.search(r"\s", _TRAILING_NOTE.sub("", p)) for p in parts):
            return parts
    return [item]


def stem(name: str) -> str:
    """`docs/prd.md` → `prd`."""
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base
