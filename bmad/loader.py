"""Load one or more `.bmad-core`-like folders into a Catalog, collecting every problem instead of stopping.

Later folders add to and override earlier ones (agents, workflows and teams by id, templates by file stem,
tasks/checklists/data by file name). A malformed file is reported and skipped; the rest still loads.
Diagnostics name files as `<folder as given>/<kind>/<file>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bmad.definitions import build_agent, build_team, build_template, build_workflow
from bmad.diagnostics import Diagnostic
from bmad.models import Catalog
from bmad.validate import validate_catalog
from bmad.yamlsrc import MAX_BYTES, Located, YamlLoadError, load_yaml_text, read_text

_FENCE_OPEN = re.compile(r"^\s{0,3}```\s*ya?ml\s*$")
_FENCE_CLOSE = re.compile(r"^\s{0,3}```\s*$")
_YAML_GLOBS = ("*.yaml", "*.yml")

Builder = Callable[[Any, Located, str], tuple[Any, list[Diagnostic]]]


def _files(folder: Path, globs: Sequence[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    found = {p for g in globs for p in folder.glob(g) if p.is_file()}
    return sorted(found, key=lambda p: p.name)


def _display(root: Path, file: Path) -> str:
    return (root / file.parent.name / file.name).as_posix()


def _yaml_block(text: str, display: str) -> tuple[str, int]:
    """The first fenced ```yaml block of a Markdown file and the file line of its opening fence."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if not _FENCE_OPEN.match(line):
            continue
        for end in range(start + 1, len(lines)):
            if _FENCE_CLOSE.match(lines[end]):
                return "\n".join(lines[start + 1:end]) + "\n", start + 1
        raise YamlLoadError(Diagnostic(display, start + 1, 1,
                                       "```yaml block is never closed; add a closing ``` line"))
    raise YamlLoadError(Diagnostic(display, 1, 1, "agent file has no ```yaml block; put the agent definition "
                                   "(agent:, persona:, commands:, dependencies:) in a fenced ```yaml block"))


def _read(file: Path, display: str, max_bytes: int, markdown: bool) -> tuple[Any, Located]:
    text = read_text(file, display, max_bytes=max_bytes)
    where = Located(display)
    if markdown:
        block, fence_line = _yaml_block(text, display)
        where = Located(display, line_offset=fence_line)
        text = block
    return load_yaml_text(text, where), where


class _DirLoader:
    """Loads one folder into the catalog; remembers which file declared each id within this folder."""

    def __init__(self, catalog: Catalog, root: Path, max_bytes: int):
        self.catalog = catalog
        self.root = root
        self.max_bytes = max_bytes

    def report(self, problems: list[Diagnostic]) -> None:
        self.catalog.diagnostics.extend(problems)

    def build(self, file: Path, builder: Builder, markdown: bool = False) -> Any:
        display = _display(self.root, file)
        try:
            doc, where = _read(file, display, self.max_bytes, markdown)
        except YamlLoadError as err:
            self.report([err.diagnostic])
            return None
        item, problems = builder(doc, where, file.stem)
        self.report(problems)
        return item

    def load_keyed(self, kind: str, folder: str, builder: Builder, markdown: bool = False) -> None:
        """Load agents / workflows / teams: keyed by id; a second file with the same id here is an error."""
        target: dict[str, Any] = getattr(self.catalog, kind)
        seen: dict[str, Any] = {}
        globs = ("*.md",) if markdown else _YAML_GLOBS
        for file in _files(self.root / folder, globs):
            item = self.build(file, builder, markdown)
            if item is None:
                continue
            first = seen.get(item.id)
            if first is not None:
                self.report([Diagnostic(item.source.path, item.source.line, item.source.col,
                                        f"{kind[:-1]} id '{item.id}' is already used by {first.source.path}; "
                                        "give one of them another id")])
                if hasattr(first, "duplicates"):
                    first.duplicates.append(item.source.path)
                continue
            seen[item.id] = item
            target[item.id] = item

    def load_templates(self) -> None:
        for file in _files(self.root / "templates", _YAML_GLOBS):
            template = self.build(file, build_template)
            if template is None:
                continue
            self.catalog.templates[template.id] = template
            if template.declared_id and template.declared_id != template.id:
                self.catalog.template_aliases[template.declared_id] = template.id

    def load_names(self) -> None:
        for kind, globs in (("tasks", ("*.md",)), ("checklists", ("*.md",)), ("data", ("*",))):
            folder: dict[str, str] = getattr(self.catalog, kind)
            for file in _files(self.root / kind, globs):
                folder[file.name] = _display(self.root, file)


def load_bmad(dirs: Path | str | Sequence[Path | str], *, max_bytes: int = MAX_BYTES) -> Catalog:
    """Load `.bmad-core`-like folders (later ones override earlier ones) and validate them together.

    Never raises for bad definitions: every problem is in `catalog.diagnostics` (errors and warnings).
    """
    roots = [Path(dirs)] if isinstance(dirs, str | Path) else [Path(d) for d in dirs]
    catalog = Catalog()
    for root in roots:
        if not root.is_dir():
            catalog.diagnostics.append(Diagnostic(root.as_posix(), 0, 0, "not a directory"))
            continue
        loader = _DirLoader(catalog, root, max_bytes)
        loader.load_keyed("agents", "agents", build_agent, markdown=True)
        loader.load_templates()
        loader.load_keyed("workflows", "workflows", build_workflow)
        loader.load_keyed("teams", "agent-teams", build_team)
        loader.load_names()
    catalog.diagnostics.extend(validate_catalog(catalog))
    catalog.diagnostics.sort()
    return catalog
