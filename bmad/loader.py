"""Load one or more `.bmad-core`-like folders into a Catalog, collecting every problem instead of stopping.

Later folders add to and override earlier ones (agents, workflows and teams by id, templates by file stem,
tasks/checklists/data by file name). A malformed file is reported and skipped; the rest still loads.
Diagnostics name files as `<folder as given>/<kind>/<file>`.

Expansion packs kept inside a folder are layers of their own, loaded right after that folder (so a pack may
use, and override, core agents): a subfolder with a definition folder of its own (`agents/`, `workflows/`,
`templates/` or `agent-teams/`) is a pack, and so is each such subfolder one level further down
(`.bmad-core/expansion-packs/game-dev/agents/...`). The kind folders themselves and hidden folders are never
packs; packs are taken in path order and do not nest further. Diagnostics name pack files by their full path
(`.bmad-core/expansion-packs/game-dev/workflows/x.yaml`).

Older v4 installs name templates in the Markdown form (`prd-tmpl.md`, still cited by the 4.41 agents'
REQUEST-RESOLUTION and tasks/validate-next-story.md): `<stem>.md` resolves to the YAML template `<stem>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bmad.definitions import build_agent, build_team, build_template, build_workflow
from bmad.diagnostics import Diagnostic
from bmad.models import Catalog
from bmad.v6 import find_install, load_v6
from bmad.validate import validate_catalog
from bmad.yamlsrc import MAX_BYTES, Located, YamlLoadError, load_yaml_text, read_text

_FENCE_OPEN = re.compile(r"^\s{0,3}```\s*ya?ml\s*$")
_FENCE_CLOSE = re.compile(r"^\s{0,3}```\s*$")
_YAML_GLOBS = ("*.yaml", "*.yml")
_KINDS = ("agents", "workflows", "templates", "agent-teams", "tasks", "checklists", "data", "utils")
_DEFINITION_KINDS = _KINDS[:4]
# What marks a subfolder of workflows/ as one BMAD v6 workflow (v4 has one file per workflow).
_FOREIGN_WORKFLOW_FILES = ("workflow.yaml", "workflow.yml", "workflow.md", "instructions.md")

Builder = Callable[[Any, Located, str], tuple[Any, list[Diagnostic]]]


def _files(folder: Path, globs: Sequence[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    found = {p for g in globs for p in folder.glob(g) if p.is_file()}
    return sorted(found, key=lambda p: p.name)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in _KINDS)


def _is_pack(folder: Path) -> bool:
    return any((folder / kind).is_dir() for kind in _DEFINITION_KINDS)


def pack_folders(root: Path) -> list[Path]:
    """The expansion packs kept inside `root`, in load order (see the module docstring)."""
    packs: list[Path] = []
    for sub in _subdirs(root):
        packs.extend([sub] if _is_pack(sub) else [p for p in _subdirs(sub) if _is_pack(p)])
    return packs


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
            built = self.build(file, builder, markdown)
            for item in built if isinstance(built, list) else [built]:  # a file of named sequences gives several
                self.keep(target, seen, kind, item)

    def keep(self, target: dict[str, Any], seen: dict[str, Any], kind: str, item: Any) -> None:
        if item is None:
            return
        first = seen.get(item.id)
        if first is not None:
            self.report([Diagnostic(item.source.path, item.source.line, item.source.col,
                                    f"{kind[:-1]} id '{item.id}' is already used by {first.source.path}; "
                                    "give one of them another id")])
            if hasattr(first, "duplicates"):
                first.duplicates.append(item.source.path)
            return
        seen[item.id] = item
        target[item.id] = item

    def load_templates(self) -> None:
        for file in _files(self.root / "templates", _YAML_GLOBS):
            template = self.build(file, build_template)
            if template is None:
                continue
            self.catalog.templates[template.id] = template
            self.catalog.template_aliases[f"{template.id}.md"] = template.id
            if template.declared_id and template.declared_id != template.id:
                self.catalog.template_aliases[template.declared_id] = template.id

    def refuse_workflow_folders(self) -> None:
        """BMAD v6 keeps each workflow in a folder of its own; say so instead of silently loading nothing."""
        folder = self.root / "workflows"
        if not folder.is_dir():
            return
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            marker = next((sub / n for n in _FOREIGN_WORKFLOW_FILES if (sub / n).is_file()), None)
            if marker is not None:
                shown = (self.root / "workflows" / sub.name / marker.name).as_posix()
                self.report([Diagnostic(shown, 1, 1, "unsupported workflow dialect: a folder per workflow "
                                        f"(workflows/{sub.name}/{marker.name}) is BMAD v6; BMAD v4 expects one "
                                        "file per workflow, workflows/<id>.yaml, with a top-level 'workflow:' "
                                        "mapping holding 'id:' and a 'sequence:' list of steps")])

    def load_names(self) -> None:
        for kind, globs in (("tasks", ("*.md",)), ("checklists", ("*.md",)), ("data", ("*",))):
            folder: dict[str, str] = getattr(self.catalog, kind)
            for file in _files(self.root / kind, globs):
                folder[file.name] = _display(self.root, file)


def _file_names(catalog: Catalog) -> None:
    """Upstream finds an agent by its file (`agents/<name>.md`, tools/lib/dependency-resolver.js), and some
    packs name agents so (the Godot pack's `game-pm`, whose file declares `id: pm`): such a file name also
    names its agent, unless an agent has that id."""
    for agent in catalog.agents.values():
        name = Path(agent.source.path).stem
        if name != agent.id and name not in catalog.agents:
            catalog.agent_aliases[name] = agent.id


def load_bmad(dirs: Path | str | Sequence[Path | str], *, max_bytes: int = MAX_BYTES) -> Catalog:
    """Load `.bmad-core`-like folders (later ones override earlier ones) and validate them together.

    Never raises for bad definitions: every problem is in `catalog.diagnostics` (errors and warnings).
    """
    given = [Path(dirs)] if isinstance(dirs, str | Path) else [Path(d) for d in dirs]
    catalog = Catalog()
    for root in given:
        if not root.is_dir():
            catalog.diagnostics.append(Diagnostic(root.as_posix(), 0, 0, "not a directory"))
            continue
        if (v6 := find_install(root)) is not None:  # a v6 project root or its `_bmad/` (bmad/v6/)
            load_v6(v6, catalog)
            continue
        if (root / ".bmad-core").is_dir() and not (root / "agents").is_dir():  # a v4 project root
            root = root / ".bmad-core"
        for layer in [root, *pack_folders(root)]:
            loader = _DirLoader(catalog, layer, max_bytes)
            loader.load_keyed("agents", "agents", build_agent, markdown=True)
            loader.load_templates()
            loader.load_keyed("workflows", "workflows", build_workflow)
            loader.refuse_workflow_folders()
            loader.load_keyed("teams", "agent-teams", build_team)
            loader.load_names()
    _file_names(catalog)
    catalog.diagnostics.extend(validate_catalog(catalog))
    # a file of named sequences is checked once per workflow it gives (the bare id and its first sequence alike)
    catalog.diagnostics = sorted(set(catalog.diagnostics))
    return catalog
