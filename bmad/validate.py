"""Cross-file checks of a loaded Catalog: step shapes, agents, templates, artifact order, teams; and the
placeholders of one template file (`validate_template_text`, run by the loader on each template).

Errors make a workflow uncompilable; warnings (ignored keys, external inputs, unsupported `routes:`, an unknown
agent id that exactly one agent fits, bmad/agentnames.py) do not.
"""

from __future__ import annotations

from typing import Any

from bmad.agentnames import unknown_agent_message
from bmad.approval import parse_approval
from bmad.artifacts import COLLECTIVE, name_list, normalize
from bmad.criteria import document_of
from bmad.diagnostics import Diagnostic, Severity
from bmad.models import STEP_KEYS, Catalog, StepDef, TeamDef, WorkflowDef
from bmad.placeholders import problems as placeholder_problems
from bmad.yamlsrc import Located

# the texts of a template that are filled in (rendered, or substituted into an agent's prompt)
_TEMPLATE_TEXT_KEYS = ("title", "template", "item_template", "instruction")
_TEXT_KEYS = ("step", "agent", "action", "creates", "updates", "validates", "condition", "repeats", "uses",
              "notes")


def _known(names: Any, limit: int = 15) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:limit]) + (", ..." if len(ordered) > limit else "")
    return shown or "none"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"'{value}'"


class _WorkflowCheck:
    """Checks one workflow; `diag` builds diagnostics in its file."""

    def __init__(self, catalog: Catalog, wf: WorkflowDef):
        self.catalog = catalog
        self.wf = wf
        self.out: list[Diagnostic] = []

    def diag(self, pos: tuple[int, int], message: str, severity: Severity = "error") -> None:
        self.out.append(Diagnostic(self.wf.source.path, pos[0], pos[1], message, severity))

    def unknown_agent(self, pos: tuple[int, int], name: str, where: str = "", prefix: str = "") -> None:
        """An agent id no folder defines: a warning when exactly one agent fits (bmad/agentnames.py)."""
        message, guessed = unknown_agent_message(self.catalog, name, self.wf.source.path, where)
        if guessed:
            self.diag(pos, prefix + message, "warning")
        else:
            self.diag(pos, f"{prefix}{message}; known agents: {_known(self.catalog.agents)}")

    def types(self, step: StepDef) -> None:
        fields = step.fields
        for key in _TEXT_KEYS:
            if fields.get(key) is not None and not isinstance(fields[key], str):
                self.diag(step.pos(key), f"'{key}' must be a string, not {_kind(fields[key])}")
        optional = fields.get("optional")
        if optional is not None and not isinstance(optional, bool):
            self.diag(step.pos("optional"), f"'optional' must be true or false, not {_kind(optional)}")
        requires = fields.get("requires")
        if requires is not None and not (isinstance(requires, str) or _str_list(requires)):
            self.diag(step.pos("requires"), f"'requires' must be a string or a list of strings, not "
                      f"{_kind(requires)}")
        extra = fields.get("optional_steps")
        if extra is not None and not _str_list(extra):
            self.diag(step.pos("optional_steps"), f"'optional_steps' must be a list of names, not "
                      f"{_kind(extra)}")

    def references(self, step: StepDef) -> None:
        fields = step.fields
        agent = fields.get("agent")
        if isinstance(agent, str):
            for part in (p.strip() for p in agent.split("/")):
                if part != "various" and self.catalog.agent_id(part) is None:
                    self.unknown_agent(step.pos("agent"), part, f" in '{agent}'" if part != agent else "")
        uses = fields.get("uses")
        if isinstance(uses, str):
            self.uses(step, uses.strip())

    def uses(self, step: StepDef, uses: str) -> None:
        catalog = self.catalog
        if uses.removesuffix(".yaml").removesuffix(".yml").endswith("-tmpl"):
            if catalog.template(uses) is None:
                self.diag(step.pos("uses"), f"unknown template '{uses}': no templates/{uses}.yaml is loaded; "
                          f"known templates: {_known(catalog.templates)}")
        elif not (catalog.template(uses) or catalog.has_named(catalog.checklists, uses)
                  or catalog.has_named(catalog.tasks, uses)):
            self.diag(step.pos("uses"), f"'uses: {uses}' names no loaded template, checklist or task",
                      "warning")

    def shape(self, step: StepDef) -> None:
        fields = step.fields
        for key, value in fields.items():
            if key not in STEP_KEYS and value is not None:
                self.diag(step.key_pos.get(key, step.pos()), f"key '{key}' in step is ignored by the engine",
                          "warning")
        if "approval" in fields:
            try:
                parse_approval(fields["approval"])
            except ValueError as exc:
                self.diag(step.pos("approval"), str(exc))
        if "routes" in fields:
            self.routes(step, fields["routes"])
        output = fields.get("creates") or fields.get("updates")
        if output and not fields.get("agent") and step.bare_key is None:
            key = "creates" if fields.get("creates") else "updates"
            self.diag(step.pos(key), f"step {key} '{output}' but names no agent to write it; add 'agent:'")

    def routes(self, step: StepDef, routes: Any) -> None:
        pos = step.key_pos["routes"]
        if not isinstance(routes, dict) or not routes:
            self.diag(pos, "'routes' must map branch names to branches (each with 'agent:' or 'continue:')")
            return
        for name, branch in routes.items():
            if not isinstance(branch, dict) or not ("agent" in branch or "continue" in branch):
                self.diag(pos, f"route '{name}' needs 'agent:' (a step to run) or 'continue:' (go on)")
                continue
            agent = branch.get("agent")
            for part in (p.strip() for p in str(agent or "").split("/") if p.strip()):
                if part != "various" and self.catalog.agent_id(part) is None:
                    self.unknown_agent(pos, part, prefix=f"route '{name}': ")

    def step_names(self) -> None:
        seen: dict[str, StepDef] = {}
        for step in self.wf.sequence:
            name = step.fields.get("step")
            if not isinstance(name, str):
                continue
            if name in seen:
                self.diag(step.pos("step"), f"step name '{name}' is already used at line {seen[name].line}; "
                          "step names must be unique")
            seen.setdefault(name, step)

    def order(self) -> None:
        """A required artifact must be produced by an earlier step; else it is created later (error) or
        is an external input of the run (warning)."""
        creators: dict[str, StepDef] = {}
        outputs = {s.index: _outputs(s) for s in self.wf.sequence}
        for step in self.wf.sequence:
            for name in outputs[step.index]:
                creators.setdefault(name, step)
        produced: set[str] = set()
        for step in self.wf.sequence:
            for i, name in enumerate(name_list(step.fields.get("requires"))):
                if name in COLLECTIVE or name in produced:
                    continue
                later = creators.get(name)
                if later is not None and later.index > step.index:
                    self.diag(step.pos("requires", i), f"requires '{name}' which is created later by step "
                              f"{later.index + 1} at line {later.line}; move that step before this one or "
                              "drop the requirement")
                else:
                    self.diag(step.pos("requires", i), f"'{name}' is not created by any step: it is an "
                              f"external input of the run; pass it with --artifact {name}=FILE", "warning")
            produced.update(outputs[step.index])

    def run(self) -> list[Diagnostic]:
        for step in self.wf.sequence:
            if not isinstance(step.data, dict):
                self.diag(step.pos(), "a step must be a mapping (agent:, creates:, ...), not "
                          f"{_kind(step.data)}")
                continue
            self.types(step)
            self.references(step)
            self.shape(step)
        self.step_names()
        self.order()
        self.budget()
        self.declared_agents()
        self.criteria()
        return self.out

    def declared_agents(self) -> None:
        """The `agents:` list of the `steps:` form: each must be loaded, like a step's agent."""
        for name, pos in zip(self.wf.declared_agents, self.wf.declared_agents_pos, strict=False):
            if self.catalog.agent_id(name) is None:
                self.unknown_agent(pos, name, " in 'agents'")

    def criteria(self) -> None:
        """`<document> exists` must name a document a step writes; another criterion cannot be checked."""
        written = {n for s in self.wf.sequence for n in _outputs(s)}
        for criterion, pos in zip(self.wf.completion_criteria, self.wf.criteria_pos, strict=False):
            document = document_of(criterion)
            if document is None:
                self.diag(pos, f"completion criterion '{criterion}' cannot be checked mechanically (only "
                          "'<document> exists' is): the run's report lists it as not checked", "warning")
            elif document not in written:
                self.diag(pos, f"completion criterion '{criterion}': no step writes {document}, so every run "
                          f"would fail it; documents written: {_known(written)}")

    def budget(self) -> None:
        value = self.wf.budget
        if value is None:
            return
        where = (self.wf.source.line, self.wf.source.col)
        ok = isinstance(value, dict) and set(value) <= {"usd", "tokens"} and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value.values()
        )
        if not ok:
            self.diag(where, "'budget' must be a mapping like {usd: 5.0, tokens: 200000} with positive numbers")


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _outputs(step: StepDef) -> list[str]:
    fields = step.fields
    name = fields.get("step") if isinstance(fields.get("step"), str) else None
    found = [normalize(fields.get(k), name) for k in ("creates", "updates") if isinstance(fields.get(k), str)]
    return [n for n in found if n]


def validate_workflow(catalog: Catalog, wf: WorkflowDef) -> list[Diagnostic]:
    return _WorkflowCheck(catalog, wf).run()


def validate_team(catalog: Catalog, team: TeamDef) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    path = team.source.path
    for name, (line, col) in zip(team.agents, team.agent_pos, strict=False):
        if name != "*" and catalog.agent_id(name) is None:
            out.append(Diagnostic(path, line, col, f"unknown agent '{name}' in team; known agents: "
                                  f"{_known(catalog.agents)}"))
    files = {wf.source.path.rsplit("/", 1)[-1] for wf in catalog.workflows.values()}
    for name, (line, col) in zip(team.workflows, team.workflow_pos, strict=False):
        if name not in files and name.rsplit(".", 1)[0] not in catalog.workflows:
            out.append(Diagnostic(path, line, col, f"team names workflow '{name}', which is not loaded",
                                  "warning"))
    return out


def validate_catalog(catalog: Catalog) -> list[Diagnostic]:
    """Every cross-file problem of the catalog (shape problems of single files are found by the loader)."""
    out: list[Diagnostic] = []
    for wf in catalog.workflows.values():
        if wf.id in catalog.plans:  # BMAD v6, checked when loaded (bmad/v6/)
            continue
        out.extend(validate_workflow(catalog, wf))
    for team in catalog.teams.values():
        out.extend(validate_team(catalog, team))
    return out


def _text_problems(mapping: Any, key: str, where: Located) -> list[Diagnostic]:
    """Placeholders in `mapping[key]` that ask for more than substitution, each at its own line."""
    value = mapping.get(key)
    if not isinstance(value, str):
        return []
    line, col = where.value(mapping, key)
    literal = type(value).__name__ == "LiteralScalarString"  # a `|` block: its lines are the file's lines
    out = []
    for offset, message in placeholder_problems(value):
        if literal:
            before = value[:offset]
            start = before.rfind("\n") + 1
            # the block's content is indented under its key, by two columns in BMAD files
            pos = (line + 1 + before.count("\n"), where.key(mapping, key)[1] + 2 + offset - start)
        else:
            pos = (line, col)
        out.append(where.diag(pos, message))
    return out


def _section_problems(sections: Any, where: Located) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for section in sections if isinstance(sections, list) else []:
        if isinstance(section, dict):
            for key in _TEMPLATE_TEXT_KEYS:
                out.extend(_text_problems(section, key, where))
            out.extend(_section_problems(section.get("sections"), where))
    return out


def validate_template_text(doc: Any, where: Located) -> list[Diagnostic]:
    """Errors for template texts that ask for more than `{{name}}` substitution (`{%` statements, `{{ }}` with
    calls, quotes or operators): a template is data, so these are refused where they are written."""
    if not isinstance(doc, dict):
        return []
    out: list[Diagnostic] = []
    head = doc.get("template")
    output = head.get("output") if isinstance(head, dict) else None
    if isinstance(output, dict):
        out.extend(_text_problems(output, "title", where))
        out.extend(_text_problems(output, "filename", where))
    out.extend(_section_problems(doc.get("sections"), where))
    return out
