"""Build AgentDef / TemplateDef / WorkflowDef / TeamDef from loaded YAML, reporting shape problems.

Each builder takes the ruamel document, a `Located` (path + line offset) and the file stem, and returns the
model plus any diagnostics. Builders are lenient: wrong optional fields are reported and dropped, never fatal.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bmad.diagnostics import Diagnostic
from bmad.forms import document, named_sequence, names, phase_steps, raw_step, sequence_names, top_steps
from bmad.ignored import agent_ignored, template_ignored, workflow_ignored
from bmad.models import (
    STEP_KEYS,
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
from bmad.validate import validate_template_text
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
    return agent, agent_ignored(doc, where)


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
    return template, problems + template_ignored(doc, where) + validate_template_text(doc, where)


V4_WORKFLOW = ("BMAD v4 expects a top-level 'workflow:' mapping with 'id:' and a 'sequence:' list of steps "
               "(- agent: pm, creates: prd.md, ...)")
# Keys of BMAD v6 files; a top-level `steps:` list is the v4 expansion packs' form (bmad/forms.py), but
# `steps:` inside `workflow:` with no `sequence:` is v6.
_OTHER_DIALECT_KEYS = ("instructions", "installed_path", "config_source", "web_bundle")
_V6_IN_WORKFLOW = ("steps", *_OTHER_DIALECT_KEYS)


def _dialect(where: Located, pos: Pos, what: str) -> Diagnostic:
    return where.diag(pos, f"unsupported workflow dialect: {what}; {V4_WORKFLOW}")


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else f"'{_text(value)[:40]}'"


def _v4_top(doc: Any, where: Located) -> tuple[CommentedMap | None, list[Diagnostic]]:
    """The `workflow:` mapping of a v4 file, or why the file is of another dialect (v6 `workflow.yaml`, ...)."""
    if not isinstance(doc, CommentedMap):
        pos = where.node(doc) if where.node(doc) != (0, 0) else (1, 1)
        return None, [_dialect(where, pos, f"the file is {_kind(doc)}, not a mapping")]
    wf = doc.get("workflow")
    if isinstance(wf, CommentedMap):
        return wf, []
    if "workflow" in doc:
        return None, [_dialect(where, where.value(doc, "workflow"), f"'workflow:' is {_kind(wf)}, not a mapping")]
    if "steps" in doc:
        return None, [_dialect(where, where.value(doc, "steps"), f"top-level 'steps:' is {_kind(doc['steps'])}, "
                               "not a list of steps")]
    other = [str(k) for k in doc if k in _OTHER_DIALECT_KEYS]
    found = f"; {', '.join(repr(k + ':') for k in other)} are BMAD v6 keys" if other else ""
    pos = where.key(doc, other[0]) if other else where.node(doc)
    return None, [_dialect(where, pos, f"no top-level 'workflow:' mapping{found}")]


def _sequence(wf: CommentedMap, where: Located) -> tuple[list[StepDef], list[Diagnostic]]:
    seq = wf.get("sequence")
    if "sequence" not in wf:
        other = [str(k) for k in wf if k in _V6_IN_WORKFLOW]
        if other:
            keys = ", ".join(repr(k + ":") for k in other)
            return [], [_dialect(where, where.key(wf, other[0]), f"'workflow:' has {keys} but no 'sequence:' "
                                 "(BMAD v6 style)")]
        return [], [where.diag(where.key(wf, "id"), f"workflow has no 'sequence' list; {V4_WORKFLOW}")]
    if isinstance(seq, CommentedMap) and any(str(k) in STEP_KEYS for k in seq):  # one step without its `- `
        return [], [where.diag(where.value(wf, "sequence"), "'sequence' must be a list of steps, not a mapping")]
    if not isinstance(seq, CommentedSeq):
        return [], [_dialect(where, where.value(wf, "sequence"), f"'sequence' is {_kind(seq)}")]
    if seq and not any(isinstance(entry, dict) for entry in seq):
        return [], [_dialect(where, where.value(wf, "sequence"), "no entry of 'sequence' is a step mapping")]
    return [raw_step(seq, i, where) for i in range(len(seq))], []


def _criteria(wf: CommentedMap, key: str, where: Located) -> tuple[list[str], list[Pos], list[Diagnostic]]:
    value = wf.get(key)
    if value is None:
        return [], [], []
    if not isinstance(value, CommentedSeq):
        return [], [], [where.diag(where.value(wf, key), f"'{key}' must be a list")]
    return [_text(v) for v in value], [where.item(value, i) for i in range(len(value))], []


def build_workflow(doc: Any, where: Located, stem: str) -> Built:
    """A WorkflowDef (a list of them for a file of named sequences); a file of another dialect still gives an
    empty one (id: the file stem), so that running it by that id fails with the dialect diagnostic instead of
    'unknown workflow'."""
    if isinstance(doc, CommentedMap) and "workflow" not in doc and isinstance(doc.get("steps"), CommentedSeq):
        return _steps_form(doc, where, stem)
    wf, problems = _v4_top(doc, where)
    if wf is None:
        pos = problems[0].line, problems[0].col
        return WorkflowDef(id=stem, source=SourceRef(path=where.path, line=pos[0], col=pos[1])), problems
    if not isinstance(wf.get("id"), str) or not wf["id"].strip():
        problems.append(where.diag(where.key(doc, "workflow"), f"workflow has no 'id'; using '{stem}'",
                                   "warning"))
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
        handoff_prompts={str(k): _text(v) for k, v in (prompts or {}).items()},
        flow_diagram=_text(wf.get("flow_diagram")),
        decision_guidance=to_plain(wf.get("decision_guidance")),
        budget=to_plain(wf.get("budget")),
        source=SourceRef(path=where.path, line=pos[0], col=pos[1]),
    )
    problems += workflow_ignored(wf, where)
    named = sequence_names(wf) if "sequence" not in wf and "phases" not in wf else []
    if named:
        return _named_sequences(workflow, wf, named, where), problems
    if "sequence" not in wf and isinstance(wf.get("phases"), CommentedMap):
        workflow.form = "phases"
        workflow.sequence, more = phase_steps(wf["phases"], where)
        criteria, positions, bad = _criteria(wf, "completion_criteria", where)
        workflow.completion_criteria, workflow.criteria_pos = criteria, positions
        return workflow, problems + more + bad
    workflow.sequence, more = _sequence(wf, where)
    return workflow, problems + more


def _named_sequences(base: WorkflowDef, wf: CommentedMap, named: list[str], where: Located) -> list[WorkflowDef]:
    """One workflow per named sequence, `<id>:<name>`, and the bare id for the first (see bmad/forms.py)."""
    out = []
    for n, name in enumerate(named):
        steps, span = named_sequence(wf, name, where)
        line, col = where.key(wf, name)
        one = base.model_copy(update={"id": f"{base.id}:{name}", "name": f"{base.name} ({name})".strip(),
                                      "sequence": steps, "form": "named-sequence", "span": span,
                                      "source": SourceRef(path=where.path, line=line, col=col)})
        if n == 0:
            out.append(one.model_copy(update={"id": base.id, "name": base.name}))
        out.append(one)
    return out


def _steps_form(doc: CommentedMap, where: Located, stem: str) -> Built:
    """A top-level `steps:` list with `name`, `inputs`, `agents` and `outputs` (see bmad/forms.py)."""
    problems = [where.diag(where.key(doc, "triggers"), "'triggers' is ignored: they start the workflow from a "
                           "chat; a run is started by its id", "warning")] if "triggers" in doc else []
    if not isinstance(doc.get("name"), str) or not doc["name"].strip():
        problems.append(where.diag(where.key(doc, "steps"), f"workflow has no 'name'; using '{stem}'", "warning"))
    agents, agents_pos = names(doc.get("agents"), doc, where)
    inputs, _ = names(doc.get("inputs"), doc, where)
    outputs, outputs_pos, bad = _criteria(doc, "outputs", where)
    pos = where.value(doc, "name") if "name" in doc else where.key(doc, "steps")
    workflow = WorkflowDef(
        id=_text(doc.get("name")).strip() or stem,
        name=_text(doc.get("title")),
        description=_text(doc.get("description")).strip(),
        sequence=top_steps(doc["steps"], where),
        form="steps",
        completion_criteria=[f"{document(o)} exists" for o in outputs],
        criteria_pos=outputs_pos,
        declared_agents=agents,
        declared_agents_pos=agents_pos,
        declared_inputs=inputs,
        budget=to_plain(doc.get("budget")),
        source=SourceRef(path=where.path, line=pos[0], col=pos[1]),
    )
    return workflow, problems + bad


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
