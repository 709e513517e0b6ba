"""Build AgentDef / TemplateDef / WorkflowDef / TeamDef from loaded YAML, reporting shape problems.

Each builder takes the ruamel document, a `Located` (path + line offset) and the file stem, and returns the
model plus any diagnostics. Builders are lenient: wrong optional fields are reported and dropped, never fatal.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bmad.diagnostics import Diagnostic
from bmad.models import (
    AgentDef,
    PersonaDef,
    StepDef,
    TeamDef,
    TemplateDef,
    TemplateOutput,
    TemplateSectionDef,
    WorkflowDef,
)
from bmad.plan import SourceRef
from bmad.yamlsrc import Located, Pos, to_plain

Built = tuple[Any, list[Diagnostic]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [_text(v) for v in value]
    return [_text(value)]


def _mapping(doc: Any, key: str, where: Located, what: str) -> tuple[CommentedMap | None, list[Diagnostic]]:
    """The mapping under top-level `key`, or a diagnostic saying what is wrong with it."""
    if not isinstance(doc, CommentedMap):
        return None, [where.diag(where.node(doc) if doc is not None else (1, 1),
                                 f"{what} file must be a YAML mapping with a '{key}:' section")]
    section = doc.get(key)
    if not isinstance(section, CommentedMap):
        pos = where.value(doc, key) if key in doc else where.node(doc)
        return None, [where.diag(pos, f"{what} file needs a '{key}:' mapping")]
    return section, []


def build_agent(doc: Any, where: Located, stem: str) -> Built:
    if not isinstance(doc, CommentedMap):
        return None, [where.diag((where.line_offset + 1, 1), "agent ```yaml block must be a YAML mapping")]
    info = doc.get("agent") if isinstance(doc.get("agent"), CommentedMap) else CommentedMap()
    raw_persona = doc.get("persona") if isinstance(doc.get("persona"), CommentedMap) else {}
    principles = raw_persona.get("core_principles", doc.get("core_principles"))
    persona = PersonaDef(
        role=_text(raw_persona.get("role")),
        style=_text(raw_persona.get("style")),
        identity=_text(raw_persona.get("identity")),
        focus=_text(raw_persona.get("focus")),
        core_principles=_str_list(to_plain(principles)),
    )
    deps = doc.get("dependencies")
    dependencies = {str(k): _str_list(to_plain(v)) for k, v in deps.items()} if isinstance(deps, dict) else {}
    commands = to_plain(doc.get("commands"))
    if isinstance(commands, dict):
        commands = [{k: v} for k, v in commands.items()]
    anchor = where.key(doc, "agent") if "agent" in doc else where.node(doc)
    agent = AgentDef(
        id=_text(info.get("id")) or stem,
        name=_text(info.get("name")),
        title=_text(info.get("title")),
        icon=_text(info.get("icon")),
        when_to_use=_text(info.get("whenToUse")),
        persona=persona,
        commands=commands if isinstance(commands, list) else [],
        dependencies=dependencies,
        source=SourceRef(path=where.path, line=anchor[0], col=anchor[1]),
    )
    return agent, []


_SECTION_TEXT = ("id", "title", "instruction", "type", "template", "condition", "prefix", "item_template")


def _section(raw: Any) -> TemplateSectionDef:
    data = dict(raw) if isinstance(raw, dict) else {"title": _text(raw)}
    for key in _SECTION_TEXT:
        if key in data and data[key] is not None:
            data[key] = _text(data[key])
    for key in ("repeatable", "elicit"):
        data[key] = data.get(key) is True
    for key in ("examples", "columns"):
        if key in data and not isinstance(data[key], list):
            data[key] = _str_list(data[key])
    subs = data.get("sections")
    data["sections"] = [_section(s) for s in subs] if isinstance(subs, list) else []
    return TemplateSectionDef.model_validate(data)


def build_template(doc: Any, where: Located, stem: str) -> Built:
    head, problems = _mapping(doc, "template", where, "template")
    if head is None:
        return None, problems
    raw_out = head.get("output") if isinstance(head.get("output"), dict) else {}
    output = TemplateOutput(
        format=_text(raw_out.get("format")) or "markdown",
        filename=_text(raw_out.get("filename")) or None,
        title=_text(raw_out.get("title")),
    )
    raw_sections = to_plain(doc.get("sections"))
    if raw_sections is not None and not isinstance(raw_sections, list):
        problems.append(where.diag(where.value(doc, "sections"), "'sections' must be a list"))
        raw_sections = []
    workflow = to_plain(doc.get("workflow"))
    pos = where.value(head, "id") if "id" in head else where.key(doc, "template")
    try:
        sections = [_section(s) for s in raw_sections or []]
    except ValidationError as err:  # only reachable for exotic values; report instead of failing the load
        message = f"invalid sections: {err.errors()[0]['msg']}"
        problems.append(where.diag(where.value(doc, "sections"), message))
        sections = []
    template = TemplateDef(
        id=stem,
        declared_id=_text(head.get("id")),
        name=_text(head.get("name")),
        version=_text(head.get("version")),
        output=output,
        workflow=workflow if isinstance(workflow, dict) else {},
        sections=sections,
        source=SourceRef(path=where.path, line=pos[0], col=pos[1]),
    )
    return template, problems


def _step(seq: CommentedSeq, index: int, where: Located) -> StepDef:
    entry = seq[index]
    line, col = where.item(seq, index)
    step = StepDef(index=index, data=to_plain(entry), line=line, col=col)
    if isinstance(entry, CommentedMap):
        for key, value in entry.items():
            step.key_pos[str(key)] = where.key(entry, key)
            step.value_pos[str(key)] = where.value(entry, key) if value is not None else where.key(entry, key)
            if isinstance(value, CommentedSeq):
                step.item_pos[str(key)] = [where.item(value, i) for i in range(len(value))]
    return step


def _sequence(wf: CommentedMap, where: Located) -> tuple[list[StepDef], list[Diagnostic]]:
    seq = wf.get("sequence")
    if "sequence" not in wf:
        return [], [where.diag(where.key(wf, "id"), "workflow has no 'sequence' list")]
    if not isinstance(seq, CommentedSeq):
        kind = "a mapping" if isinstance(seq, dict) else f"'{seq}'"
        message = f"'sequence' must be a list of steps, not {kind}"
        return [], [where.diag(where.value(wf, "sequence"), message)]
    return [_step(seq, i, where) for i in range(len(seq))], []


def build_workflow(doc: Any, where: Located, stem: str) -> Built:
    wf, problems = _mapping(doc, "workflow", where, "workflow")
    if wf is None:
        return None, problems
    if not isinstance(wf.get("id"), str) or not wf["id"].strip():
        problems.append(where.diag(where.key(doc, "workflow"), f"workflow has no 'id'; using '{stem}'",
                                   "warning"))
    steps, seq_problems = _sequence(wf, where)
    prompts = to_plain(wf.get("handoff_prompts"))
    if prompts is not None and not isinstance(prompts, dict):
        problems.append(where.diag(where.value(wf, "handoff_prompts"), "'handoff_prompts' must be a mapping"))
        prompts = {}
    pos = where.value(wf, "id") if "id" in wf else where.key(doc, "workflow")
    workflow = WorkflowDef(
        id=_text(wf.get("id")).strip() or stem,
        name=_text(wf.get("name")),
        description=_text(wf.get("description")).strip(),
        type=_text(wf.get("type")),
        project_types=_str_list(to_plain(wf.get("project_types"))),
        sequence=steps,
        handoff_prompts={str(k): _text(v) for k, v in (prompts or {}).items()},
        flow_diagram=_text(wf.get("flow_diagram")),
        decision_guidance=to_plain(wf.get("decision_guidance")),
        budget=to_plain(wf.get("budget")),
        source=SourceRef(path=where.path, line=pos[0], col=pos[1]),
    )
    return workflow, problems + seq_problems


def _names(section: CommentedMap, key: str, where: Located) -> tuple[list[str], list[Pos], list[Diagnostic]]:
    value = section.get(key)
    if value is None:
        return [], [], []
    if not isinstance(value, CommentedSeq):
        return [], [], [where.diag(where.value(section, key), f"'{key}' must be a list of names")]
    names = [_text(v) for v in value]
    return names, [where.item(value, i) for i in range(len(value))], []


def build_team(doc: Any, where: Located, stem: str) -> Built:
    bundle, problems = _mapping(doc, "bundle", where, "agent team")
    if bundle is None:
        return None, problems
    agents, agent_pos, p1 = _names(doc, "agents", where)
    workflows, workflow_pos, p2 = _names(doc, "workflows", where)
    pos = where.key(doc, "bundle")
    team = TeamDef(
        id=stem,
        name=_text(bundle.get("name")),
        icon=_text(bundle.get("icon")),
        description=_text(bundle.get("description")),
        agents=agents,
        agent_pos=agent_pos,
        workflows=workflows,
        workflow_pos=workflow_pos,
        source=SourceRef(path=where.path, line=pos[0], col=pos[1]),
    )
    return team, problems + p1 + p2
