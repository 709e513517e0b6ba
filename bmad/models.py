"""Typed, loaded BMAD definitions (agents, templates, workflows, teams) and the Catalog that holds them.

These mirror the source files closely (positions included) so `validate` can point at lines; `compile`
turns them into the `Plan` the engine runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bmad.diagnostics import Diagnostic
from bmad.plan import Plan, SourceRef

Pos = tuple[int, int]

# Keys of a sequence entry the engine understands; anything else is ignored (with a warning).
STEP_KEYS = frozenset({
    "step", "agent", "action", "creates", "updates", "validates", "requires", "condition", "optional",
    "optional_steps", "repeats", "uses", "notes", "routes", "approval",
})


class PersonaDef(BaseModel):
    role: str = ""
    style: str = ""
    identity: str = ""
    focus: str = ""
    core_principles: list[str] = Field(default_factory=list)


class AgentDef(BaseModel):
    id: str
    name: str = ""
    title: str = ""
    icon: str = ""
    when_to_use: str = Field(default="", alias="whenToUse")
    persona: PersonaDef = Field(default_factory=PersonaDef)
    commands: list[Any] = Field(default_factory=list)
    dependencies: dict[str, list[str]] = Field(default_factory=dict)
    source: SourceRef

    model_config = ConfigDict(populate_by_name=True)


class TemplateOutput(BaseModel):
    format: str = "markdown"
    filename: str | None = None
    title: str = ""


class TemplateSectionDef(BaseModel):
    """One section of a template; unknown keys are kept (extra="allow"), nothing here is strict."""

    id: str = ""
    title: str = ""
    instruction: str = ""
    type: str | None = None
    template: str | None = None
    repeatable: bool = False
    condition: str | None = None
    elicit: bool = False
    prefix: str | None = None
    item_template: str | None = None
    choices: Any = None
    examples: list[Any] = Field(default_factory=list)
    columns: list[Any] = Field(default_factory=list)
    sections: list[TemplateSectionDef] = Field(default_factory=list)

    model_config = ConfigDict(extra="allow")


class TemplateDef(BaseModel):
    id: str  # the file stem, e.g. "prd-tmpl"
    declared_id: str = ""  # `template.id`, e.g. "prd-template-v2"; also resolves
    name: str = ""
    version: str = ""
    output: TemplateOutput = Field(default_factory=TemplateOutput)
    workflow: dict[str, Any] = Field(default_factory=dict)
    sections: list[TemplateSectionDef] = Field(default_factory=list)
    source: SourceRef


class StepDef(BaseModel):
    """One raw `sequence` entry with the positions of its keys, values and list items."""

    index: int
    data: Any  # a dict for well-formed entries; anything else is reported by validate
    line: int = 0
    col: int = 0
    key_pos: dict[str, Pos] = Field(default_factory=dict)
    value_pos: dict[str, Pos] = Field(default_factory=dict)
    item_pos: dict[str, list[Pos]] = Field(default_factory=dict)
    group: str | None = None  # the phase (or top-level `steps:` entry) a `repeats:` loop cannot run past

    @property
    def fields(self) -> dict[str, Any]:
        return self.data if isinstance(self.data, dict) else {}

    @property
    def bare_key(self) -> str | None:
        """The control key of an entry like `- workflow_end:`: a key without value that is no step key."""
        for key, value in self.fields.items():
            if value is None and key not in STEP_KEYS:
                return key
        return None

    def pos(self, key: str | None = None, item: int | None = None) -> Pos:
        """Where to point for this entry, one of its values, or one item of a list value."""
        if key is not None and item is not None and item < len(self.item_pos.get(key, [])):
            return self.item_pos[key][item]
        if key is not None and key in self.value_pos:
            return self.value_pos[key]
        return (self.line, self.col)


class WorkflowDef(BaseModel):
    id: str
    name: str = ""
    description: str = ""
    type: str = ""
    project_types: list[str] = Field(default_factory=list)
    sequence: list[StepDef] = Field(default_factory=list)
    handoff_prompts: dict[str, str] = Field(default_factory=dict)
    flow_diagram: str = ""
    decision_guidance: Any = None
    budget: Any = None  # BotArmy extension: {usd: 5.0, tokens: 200000}, the default budget of each run
    form: str = "sequence"  # how the file wrote its steps: sequence | named-sequence | phases | steps (bmad/forms.py)
    completion_criteria: list[str] = Field(default_factory=list)  # `completion_criteria:` / top-level `outputs:`
    criteria_pos: list[Pos] = Field(default_factory=list)
    declared_agents: list[str] = Field(default_factory=list)  # top-level `agents:` of the `steps:` form
    declared_agents_pos: list[Pos] = Field(default_factory=list)
    declared_inputs: list[str] = Field(default_factory=list)  # top-level `inputs:` of the `steps:` form
    span: tuple[int, int] | None = None  # the lines of one named sequence; its file's errors elsewhere are not its own
    source: SourceRef  # points at the `id:` value
    duplicates: list[str] = Field(default_factory=list)  # other files that declared the same id


class TeamDef(BaseModel):
    id: str  # file stem
    name: str = ""
    icon: str = ""
    description: str = ""
    agents: list[str] = Field(default_factory=list)  # may include "*"
    agent_pos: list[Pos] = Field(default_factory=list)
    workflows: list[str] = Field(default_factory=list)
    workflow_pos: list[Pos] = Field(default_factory=list)
    source: SourceRef


class Catalog(BaseModel):
    """Everything loaded from one or more `.bmad-core`-like folders, plus every problem found."""

    agents: dict[str, AgentDef] = Field(default_factory=dict)
    templates: dict[str, TemplateDef] = Field(default_factory=dict)  # by file stem
    template_aliases: dict[str, str] = Field(default_factory=dict)  # declared id -> file stem
    agent_aliases: dict[str, str] = Field(default_factory=dict)  # file stem -> declared id, where they differ
    workflows: dict[str, WorkflowDef] = Field(default_factory=dict)
    teams: dict[str, TeamDef] = Field(default_factory=dict)
    tasks: dict[str, str] = Field(default_factory=dict)  # file name -> path
    checklists: dict[str, str] = Field(default_factory=dict)
    data: dict[str, str] = Field(default_factory=dict)
    plans: dict[str, Plan] = Field(default_factory=dict)  # BMAD v6 workflows, compiled when loaded (bmad/v6/)
    diagnostics: list[Diagnostic] = Field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return sorted(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> list[Diagnostic]:
        return sorted(d for d in self.diagnostics if d.severity == "warning")

    def template(self, name: str) -> TemplateDef | None:
        """Resolve a template by file stem ("prd-tmpl"), file name ("prd-tmpl.yaml") or declared id."""
        stem = name.removesuffix(".yaml").removesuffix(".yml")
        found = self.templates.get(stem)
        if found is None and stem in self.template_aliases:
            found = self.templates.get(self.template_aliases[stem])
        return found

    def agent_id(self, name: str) -> str | None:
        """The id of the agent `name` means: an agent id, else the file name of an agent (`game-pm` for
        agents/game-pm.md declaring `id: pm`), as upstream resolves `agents/<name>.md`."""
        if name in self.agents:
            return name
        return self.agent_aliases.get(name)

    def has_named(self, folder: dict[str, str], name: str) -> bool:
        """Whether `name` (with or without ".md") is a file of `folder` (tasks, checklists, data)."""
        return name in folder or f"{name}.md" in folder
