"""The compiled, self-contained Plan a run executes: control flow plus everything each step needs.

A Plan is pure data. The interpreter workflow receives its `outline()` (control flow only, small) and the
`definition_hash`; activities load the full Plan from the store by that hash, so a run never depends on the
`.bmad-core` folder it was compiled from.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, Field


class SourceRef(BaseModel):
    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}" if self.line else self.path


class AgentSpec(BaseModel):
    """What an AutoGen agent is built from."""

    id: str
    name: str = ""
    title: str = ""
    system_message: str  # the exact system message given to the AutoGen AssistantAgent
    source: SourceRef | None = None


class TemplateSection(BaseModel):
    id: str
    title: str = ""
    instruction: str = ""
    type: str | None = None
    condition: str | None = None
    repeatable: bool = False
    sections: list[TemplateSection] = Field(default_factory=list)


class TemplateSpec(BaseModel):
    """A document template, reduced to what a step prompt and the offline model need."""

    id: str
    name: str = ""
    output_filename: str | None = None  # e.g. docs/prd.md
    output_format: str = "markdown"
    title: str = ""
    sections: list[TemplateSection] = Field(default_factory=list)
    source: SourceRef | None = None


StepKind = Literal["agent", "control"]
OnTimeout = Literal["approve", "reject", "fail"]


class ApprovalSpec(BaseModel):
    """BotArmy extension key `approval:` on a sequence entry: a person approves the step's output."""

    timeout_s: float | None = None  # None: wait as long as it takes
    on_timeout: OnTimeout = "fail"
    role: str | None = None  # who may decide; recorded and checked against the decision's `role`
    max_revisions: int = 3


class RouteOption(BaseModel):
    """One branch of a `routes:` step: run a step (then end the workflow), or continue with the next entry."""

    name: str
    step: str | None = None  # id of the route's own step (in plan.steps, after the main sequence)
    then: Literal["continue", "exit"] = "continue"
    notes: str = ""


class Jump(BaseModel):
    """A v6 `<goto>` the step may take when its condition holds: the agent says so (`NEXT STEP: <step>`), the
    workflow goes on at `to` (forward: the steps between are skipped; backward: they run again as new visits)."""

    to: str  # the target's step id in this plan
    step: str  # the target as the instructions number it: "5"
    condition: str = ""  # the `<check if>` / `<action if>` around the goto (natural language, for the agent)
    text: str = ""  # the goto's own text ("Next task")
    source: SourceRef | None = None


class PlanStep(BaseModel):
    """One entry of a workflow's `sequence`, compiled."""

    index: int
    id: str  # unique within the plan: `step:` name when given, else derived (e.g. "02-pm-prd")
    kind: StepKind = "agent"
    agent: str | None = None  # as written: "pm", "analyst/pm", "various"; None for control entries
    agents: list[str] = Field(default_factory=list)  # resolved agent ids (composite -> several)
    creates: str | None = None  # normalized artifact name ("prd.md"), annotations stripped
    creates_raw: str | None = None  # as written ("prd.md (if needed)")
    updates: str | None = None
    validates: str | None = None
    requires: list[str] = Field(default_factory=list)
    condition: str | None = None
    optional: bool = False
    # v6 `optional="true"`: workflow.xml asks the user whether to include it (unless #yolo): the run asks a person
    # when one is asked (not --auto-approve), else it runs as any optional step
    ask_optional: bool = False
    optional_steps: list[str] = Field(default_factory=list)
    repeats: str | None = None  # "for_each_epic" -> run input `for_each_epic`
    action: str | None = None
    uses: str | None = None
    notes: str = ""
    handoff_prompt: str | None = None
    template: str | None = None  # TemplateSpec id used to shape the output
    approval: ApprovalSpec | None = None
    routes: list[RouteOption] = Field(default_factory=list)  # a routing step: one branch is chosen
    route_of: str | None = None  # this step is a branch of that routing step; it runs only when chosen
    criteria: list[str] = Field(default_factory=list)  # the workflow's completion criteria (bmad/criteria.py)
    asks: list[str] = Field(default_factory=list)  # questions the step puts to a person before it runs (v6 <ask>)
    # a skill's headless contract (6.7+ `references/headless.md`, `assets/headless-schemas.md`): the step is run
    # headless and ends its answer with the JSON result (status, assumptions, open_questions)
    headless: str = ""
    jumps: list[Jump] = Field(default_factory=list)  # where its `<goto>`s lead (v6); main-level steps only
    source: SourceRef | None = None

    @property
    def output(self) -> str | None:
        """The artifact this step writes (created or updated), if any."""
        return self.creates or self.updates


class RepeatBlock(BaseModel):
    """Steps [start, end] (plan indices, inclusive) run once per item of run input `input_name`."""

    input_name: str
    start: int
    end: int


class Plan(BaseModel):
    workflow_id: str
    name: str = ""
    description: str = ""
    definition_hash: str = ""  # sha256 of the canonical plan body; set by `seal()`
    steps: list[PlanStep]
    agents: dict[str, AgentSpec] = Field(default_factory=dict)
    templates: dict[str, TemplateSpec] = Field(default_factory=dict)
    repeat_blocks: list[RepeatBlock] = Field(default_factory=list)
    external_inputs: list[str] = Field(default_factory=list)  # required artifacts no step creates
    conditions: list[str] = Field(default_factory=list)  # condition names, decided by run inputs
    input_defaults: dict[str, object] = Field(default_factory=dict)  # e.g. {"for_each_epic": 1}
    budget_usd: float | None = None  # the workflow's default budget (extension key `budget:`)
    budget_tokens: int | None = None
    source: SourceRef | None = None

    def canonical_json(self) -> str:
        body = self.model_dump(mode="json", exclude={"definition_hash"})
        for step in body["steps"]:  # plans without questions keep the hash they had before steps could ask
            for later in ("asks", "headless", "jumps", "ask_optional"):  # (or run headless, jump, ask to include)
                if not step.get(later):
                    step.pop(later, None)
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def seal(self) -> Plan:
        """Return a copy whose `definition_hash` is the hash of its content."""
        digest = hashlib.sha256(self.canonical_json().encode()).hexdigest()
        return self.model_copy(update={"definition_hash": digest})

    def outline(self) -> PlanOutline:
        return PlanOutline(
            workflow_id=self.workflow_id,
            definition_hash=self.definition_hash,
            steps=[
                OutlineStep(
                    index=s.index,
                    id=s.id,
                    kind=s.kind,
                    agent=s.agent,
                    output=s.output,
                    requires=s.requires,
                    condition=s.condition,
                    optional=s.optional,
                    ask_optional=s.ask_optional,
                    approval=s.approval,
                    routes=s.routes,
                    route_of=s.route_of,
                    asks=s.asks,
                    headless=bool(s.headless),
                    jumps=[j.model_copy(update={"source": None}) for j in s.jumps],
                )
                for s in self.steps
            ],
            repeat_blocks=self.repeat_blocks,
            input_defaults=self.input_defaults,
        )


class OutlineStep(BaseModel):
    """The part of a step the workflow needs to decide what runs; no prompts, personas or templates."""

    index: int
    id: str
    kind: StepKind
    agent: str | None = None
    output: str | None = None
    requires: list[str] = Field(default_factory=list)
    condition: str | None = None
    optional: bool = False
    ask_optional: bool = False  # a person is asked whether to include it (PlanStep.ask_optional)
    approval: ApprovalSpec | None = None
    routes: list[RouteOption] = Field(default_factory=list)
    route_of: str | None = None
    asks: list[str] = Field(default_factory=list)  # questions for a person before the step runs (PlanStep.asks)
    headless: bool = False  # run headless: its result may hold open questions for a person (PlanStep.headless)
    jumps: list[Jump] = Field(default_factory=list)  # its `<goto>`s (PlanStep.jumps)


class PlanOutline(BaseModel):
    workflow_id: str
    definition_hash: str
    steps: list[OutlineStep]  # the main sequence first, then the steps of route branches
    repeat_blocks: list[RepeatBlock] = Field(default_factory=list)
    input_defaults: dict[str, object] = Field(default_factory=dict)
