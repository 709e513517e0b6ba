"""Finding a BMAD v6 install and reading what it says about itself: version, style, modules and config.

`--bmad-dir` may name the project root (holding `_bmad/`, or the older `.bmad/` and `bmad/` with `_cfg/`) or the
install folder itself. The style comes from the manifest's version: before 6.2 a workflow is a `workflow.yaml`
(instructions in BMAD's XML tag dialect) or a `workflow.md` with step files ("workflows"); from 6.2 every
workflow and agent is a skill folder ("skills"), from 6.3 kept in the IDE folders listed in
`_bmad/_config/skill-manifest.csv`.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bmad.diagnostics import Diagnostic
from bmad.yamlsrc import YamlLoadError, load_yaml_text, read_text, to_plain

Style = Literal["workflows", "skills"]
INSTALL_FOLDERS = ("_bmad", ".bmad", "bmad")
CONFIG_FOLDERS = ("_config", "_cfg")
SKILL_FOLDERS = (".claude/skills", ".agents/skills", ".github/skills")
DEFAULT_OUTPUT_FOLDER = "_bmad-output"  # the installer's default (`--output-folder`)
_VAR = re.compile(r"\{\{?([A-Za-z_][\w-]*)\}?\}")


@dataclass
class Install:
    """One v6 install: its project root and `_bmad/` folder, as the user gave them (for diagnostics)."""

    project: Path
    root: Path  # _bmad/ (or .bmad/, bmad/)
    config_dir: Path  # _bmad/_config (or _cfg)
    version: str
    modules: list[str]
    style: Style
    config: dict[str, Any] = field(default_factory=dict)  # merged module configs, core first
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def shown(self, file: Path) -> str:
        """A file as diagnostics name it: under the folder the user gave."""
        return file.as_posix()

    def resolve(self, text: str, extra: dict[str, Any] | None = None) -> str:
        """`{project-root}`, `{config_source}:key`, `{output_folder}`, `{planning_artifacts}`, `{{project_name}}`…
        from the install's config, to a path relative to the project root; `{date}` and unknown names are left out
        (a run's artifact names do not depend on the clock)."""
        values = {**self.config, **(extra or {})}
        return resolve_text(text, values)


def resolve_text(text: str, values: dict[str, Any], depth: int = 0) -> str:
    text = re.sub(r"\{config_source\}:", "", text)
    text = text.replace("{project-root}", "").replace("{project_root}", "")

    def one(match: re.Match[str]) -> str:
        name = match[1]
        value = values.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and depth < 8:
            return resolve_text(str(value), values, depth + 1)
        return match[0] if name not in ("date", "timestamp") else ""

    out = _VAR.sub(one, text)
    out = re.sub(r"-+(?=[./]|$)", "", re.sub(r"/{2,}", "/", out))  # `prd-{{date}}.md` → `prd.md`
    return out.lstrip("/").removeprefix("./")


def find(given: Path) -> Install | None:
    """The v6 install at `given` (a project root or the install folder), else None."""
    candidates = [given] + [given / name for name in INSTALL_FOLDERS]
    for root in candidates:
        for cfg in CONFIG_FOLDERS:
            manifest = root / cfg / "manifest.yaml"
            if manifest.is_file():
                project = root.parent  # given is the project root, or the install folder inside it
                return _read(project, root, root / cfg, manifest)
    return None


def _yaml(file: Path, problems: list[Diagnostic]) -> Any:
    try:
        return to_plain(load_yaml_text(read_text(file, file.as_posix()), _located(file)))
    except YamlLoadError as err:
        problems.append(err.diagnostic)
        return None


def _located(file: Path) -> Any:
    from bmad.yamlsrc import Located

    return Located(file.as_posix())


def _version_key(version: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def _read(project: Path, root: Path, config_dir: Path, manifest: Path) -> Install:
    problems: list[Diagnostic] = []
    data = _yaml(manifest, problems)
    data = data if isinstance(data, dict) else {}
    installation: dict[str, Any] = data["installation"] if isinstance(data.get("installation"), dict) else {}
    version = str(installation.get("version") or data.get("version") or "")
    modules = [str(m.get("name")) for m in data.get("modules") or [] if isinstance(m, dict) and m.get("name")]
    if not version:
        problems.append(Diagnostic(manifest.as_posix(), 0, 0, "the manifest names no installation.version; "
                                   "read as BMAD 6.0 (workflow.yaml style)", "warning"))
    skills = (config_dir / "skill-manifest.csv").is_file() or _version_key(version) >= (6, 2)
    install = Install(project=project, root=root, config_dir=config_dir, version=version or "6.0",
                      modules=modules or _module_folders(root), style="skills" if skills else "workflows",
                      diagnostics=problems)
    install.config = _config(install)
    return install


def _module_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "config.yaml").is_file())


def _config(install: Install) -> dict[str, Any]:
    """Module configs (`<module>/config.yaml`, core first), then `config.toml` / `custom/config*.toml`."""
    values: dict[str, Any] = {"output_folder": DEFAULT_OUTPUT_FOLDER}
    order = ["core"] + [m for m in install.modules if m != "core"]
    for module in order:
        file = install.root / module / "config.yaml"
        if file.is_file():
            data = _yaml(file, install.diagnostics)
            if isinstance(data, dict):
                values.update({k: v for k, v in data.items() if isinstance(k, str) and v is not None})
    for file in (install.root / "config.toml", install.root / "config.user.toml",
                 install.root / "custom" / "config.toml", install.root / "custom" / "config.user.toml"):
        toml = read_toml(file, install.diagnostics)
        for table in ("core", *(f"modules.{m}" for m in order)):
            section = _dotted(toml, table)
            values.update({k: v for k, v in section.items() if not isinstance(v, dict | list)})
    return values


def _dotted(data: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        found = data.get(part)
        data = found if isinstance(found, dict) else {}
    return data


def read_toml(file: Path, problems: list[Diagnostic]) -> dict[str, Any]:
    if not file.is_file():
        return {}
    try:
        return tomllib.loads(read_text(file, file.as_posix()))
    except tomllib.TOMLDecodeError as e:
        problems.append(Diagnostic(file.as_posix(), getattr(e, "lineno", 0) or 0, getattr(e, "colno", 0) or 0,
                                   f"not valid TOML: {e}; the file is skipped"))
        return {}
    except YamlLoadError as err:
        problems.append(err.diagnostic)
        return {}


def read_csv(file: Path, problems: list[Diagnostic]) -> list[dict[str, str]]:
    if not file.is_file():
        return []
    try:
        text = read_text(file, file.as_posix())
    except YamlLoadError as err:
        problems.append(err.diagnostic)
        return []
    rows = csv.DictReader(io.StringIO(text))
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k} for row in rows]


def front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """The YAML front matter of a Markdown file (a mapping, else empty), the body, and the body's first line."""
    if not text.startswith("---"):
        return {}, text, 1
    end = text.find("\n---", 3)
    if end < 0:
        return {}, text, 1
    try:
        data = to_plain(load_yaml_text(text[3:end], _located(Path("front-matter"))))
    except YamlLoadError:  # e.g. a duplicate key (upstream has some): read its flat `key: value` lines, last wins
        data = {m[1]: m[2].strip().strip("'\"") for m in re.finditer(r"^([\w-]+):[ \t]*(\S.*?)\s*$", text[3:end], re.M)}
    body_start = text.find("\n", end + 4)
    body = text[body_start + 1:] if body_start >= 0 else ""
    return (data if isinstance(data, dict) else {}), body, text[:body_start + 1].count("\n") + 1
