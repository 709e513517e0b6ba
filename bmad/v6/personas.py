"""Agent personas of a v6 install, as AgentSpecs: the `<agent>` XML block of a 6.0 agent `.md` (with
`_config/agents/<module>-<agent>.customize.yaml` applied), or an agent skill's `customize.toml` `[agent]` table
merged with `_bmad/config.toml` `[agents.<skill>]` and the overrides `_bmad/custom/<skill>.toml` and
`<skill>.user.toml` by BMAD's structural rules (scalars override, tables merge, arrays of tables keyed by `code`
or `id` replace matching items and append new ones, other arrays append)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from bmad.diagnostics import Diagnostic
from bmad.plan import AgentSpec, SourceRef
from bmad.v6.install import Install, front_matter, read_toml
from bmad.yamlsrc import YamlLoadError, load_yaml_text, read_text, to_plain

_AGENT = re.compile(r"<agent\b([^>]*)>", re.S)
_ATTR = re.compile(r"([\w-]+)\s*=\s*\"([^\"]*)\"")


def _tag(text: str, name: str) -> str:
    found = re.search(rf"<{name}>(.*?)</{name}>", text, re.S)
    return " ".join(html.unescape(found[1]).split()) if found else ""


def merge(base: Any, over: Any) -> Any:
    """BMAD's structural merge of customization tables."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(over, list):
        keyed = [k for k in ("code", "id") if all(isinstance(i, dict) and k in i for i in base + over) and base]
        if keyed:
            key = keyed[0]
            items = list(base)
            for item in over:
                at = next((n for n, b in enumerate(items) if b[key] == item[key]), None)
                if at is None:
                    items.append(item)
                else:
                    items[at] = item
            return items
        return base + over
    return over


def system_message(name: str, title: str, agent_id: str, fields: dict[str, Any], facts: list[str]) -> str:
    head = f"You are {name or agent_id}" + (f", {title}" if title else "")
    lines = [f"{head} ({agent_id})."]
    for label, key in (("Role", "role"), ("Identity", "identity"), ("Style", "communication_style"),
                       ("Description", "description")):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            lines.append(f"{label}: {' '.join(value.split())}")
    principles = fields.get("principles")
    if isinstance(principles, str) and principles.strip():
        principles = [p.strip() for p in re.split(r"(?:^|\s)- ", principles) if p.strip()]
    if isinstance(principles, list) and principles:
        lines.append("Core principles:")
        lines.extend(f"- {' '.join(str(p).split())}" for p in principles if str(p).strip())
    if facts:
        lines.append("Facts to keep in mind:")
        lines.extend(f"- {' '.join(f.split())}" for f in facts)
    return "\n".join(lines) + "\n"


def xml_agent(install: Install, file: Path, module: str, problems: list[Diagnostic]) -> AgentSpec | None:
    """A 6.0 agent `.md`: its ```xml `<agent>` block; None (with an error) when it has none."""
    text = read_text(file, install.shown(file))
    found = _AGENT.search(text)
    meta, _, _ = front_matter(text)
    if found is None:
        problems.append(Diagnostic(install.shown(file), 1, 1, "agent file has no <agent> XML block; a BMAD v6 agent "
                                   "is an .md file wrapping <agent id name title> with <persona> inside"))
        return None
    attrs = dict(_ATTR.findall(found[1]))
    agent_id = str(meta.get("name") or file.stem)
    fields = {k: _tag(text, k) for k in ("role", "identity", "communication_style", "principles")}
    name, title = attrs.get("name", ""), attrs.get("title", "")
    facts: list[str] = []
    custom = install.config_dir / "agents" / f"{module}-{agent_id}.customize.yaml"
    if custom.is_file():
        try:
            data = to_plain(load_yaml_text(read_text(custom, install.shown(custom)), _where(custom)))
        except YamlLoadError as err:
            problems.append(err.diagnostic)
            data = None
        if isinstance(data, dict):
            meta_name = ((data.get("agent") or {}).get("metadata") or {}).get("name")
            name = meta_name or name
            persona: dict[str, Any] = data["persona"] if isinstance(data.get("persona"), dict) else {}
            fields.update({k: v for k, v in persona.items() if v})  # replaces, not merged (as the file says)
            facts += [str(m) for m in data.get("memories") or [] if m]
    line = text.count("\n", 0, found.start()) + 1
    return AgentSpec(id=agent_id, name=name, title=title,
                     system_message=system_message(name, title, agent_id, fields, facts),
                     source=SourceRef(path=install.shown(file), line=line, col=1))


def _where(file: Path) -> Any:
    from bmad.yamlsrc import Located

    return Located(file.as_posix())


def skill_table(install: Install, skill_dir: Path, key: str, problems: list[Diagnostic]) -> dict[str, Any]:
    """The `[agent]` or `[workflow]` table of a skill, overrides merged (base → team → user)."""
    name = skill_dir.name
    table: dict[str, Any] = read_toml(skill_dir / "customize.toml", problems).get(key) or {}
    if key == "agent":
        for config in (install.root / "config.toml", install.root / "custom" / "config.toml"):
            extra = ((read_toml(config, problems).get("agents") or {}).get(name)) or {}
            table = merge(table, {k: v for k, v in extra.items() if k in ("name", "title", "icon", "description")})
    for custom in (install.root / "custom" / f"{name}.toml", install.root / "custom" / f"{name}.user.toml"):
        table = merge(table, read_toml(custom, problems).get(key) or {})
    return table if isinstance(table, dict) else {}


def skill_agent(install: Install, skill_dir: Path, problems: list[Diagnostic]) -> AgentSpec:
    """An agent skill (or a workflow skill acting as its own agent): persona from its merged `[agent]` table,
    else the SKILL.md's title and overview."""
    table = skill_table(install, skill_dir, "agent", problems)
    skill = skill_dir / "SKILL.md"
    meta, body, _ = front_matter(read_text(skill, install.shown(skill)))
    fields = dict(table)
    if not any(fields.get(k) for k in ("role", "identity", "description")):
        overview = next((p for p in re.split(r"\n\s*\n", body) if p.strip() and not p.lstrip().startswith("#")), "")
        fields["identity"] = overview
    title_line = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("# ")), "")
    name = str(table.get("name") or title_line or meta.get("name") or skill_dir.name)
    facts = [str(f) for f in table.get("persistent_facts") or [] if str(f).strip()]
    facts += [str(f) for f in skill_table(install, skill_dir, "workflow", problems).get("persistent_facts") or []
              if str(f).strip() and table == {}]
    return AgentSpec(id=skill_dir.name, name=name, title=str(table.get("title") or ""),
                     system_message=system_message(name, str(table.get("title") or ""), skill_dir.name, fields, facts),
                     source=SourceRef(path=install.shown(skill_dir / "customize.toml")
                                      if (skill_dir / "customize.toml").is_file() else install.shown(skill)))
