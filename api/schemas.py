"""Request and response bodies of the API (the run object itself is botarmy.runview.run_object)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.progress import PendingApproval

RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,99}$")]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, description="id of a workflow in the catalog")
    inputs: dict[str, Any] = Field(default_factory=dict, description="run inputs (conditions, repeat counts)")
    approve: Literal["all", "none"] | list[str] | dict[str, RoleName] = Field(
        default="none", description='which agents\' outputs wait for a person: "all", "none", a list of agent ids, '
        'or {agent: role}: that agent\'s steps wait for a person holding the role (or admin)')
    team: str | None = Field(default=None, description="an agent team with every agent the workflow needs")
    artifacts: dict[str, str] = Field(default_factory=dict, description="external input documents, by name")
    budget_usd: float | None = Field(default=None, gt=0, description="pause before the run spends more (USD)")
    budget_tokens: int | None = Field(default=None, gt=0, description="pause before the run uses more tokens")
    reuse: bool = Field(default=False, description="the step cache: a step whose full input equals an earlier "
                        "run's stored step takes its output over, without a model call (cost 0)")


class RunInputSpec(BaseModel):
    name: str
    kind: Literal["condition", "count", "route", "text"] = Field(
        description="condition: true/false; count: a repeat count; route: one of `choices`; text: free text")
    default: Any = None
    choices: list[str] = Field(default_factory=list)


class WorkflowInputs(BaseModel):
    workflow: str
    inputs: list[RunInputSpec]
    documents: list[str] = Field(description="external documents the run may be given (`artifacts` of POST /runs)")
    agents: list[str] = Field(description="the agents whose outputs may wait for approval (`approve`)")
    budget_usd: float | None = None
    budget_tokens: int | None = None


class RunCreated(BaseModel):
    run_id: str
    workflow_id: str
    temporal_workflow_id: str
    web_ui: str


class RunSummary(BaseModel):
    run_id: str
    workflow_id: str
    temporal_workflow_id: str
    status: str
    definition_hash: str
    inputs: dict[str, Any]
    error: str | None
    created_at: str | None
    finished_at: str | None
    web_ui: str | None
    model: str | None = None  # the model the run was pinned to where it was started
    cost_usd: float = Field(default=0.0, description="USD spent by the run's priced calls so far")


class RunPage(BaseModel):
    items: list[RunSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


class Accepted(BaseModel):
    run_id: str
    status: str


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "amend", "yes", "no", "choose", "raise", "stop", "answer"] = Field(
        description="approve/reject/amend a step's output; yes/no answers a condition; choose picks a route "
        "branch (in `choice`); raise/stop answers a budget pause (raise: the new budget in `choice`); answer "
        "answers a step's question (the text in `comment`)"
    )
    choice: str | None = Field(default=None, max_length=200, description="choose: the branch; raise: the budget")
    comment: str = ""
    content: str | None = Field(default=None, description="the amended document; required for (and only for) amend")
    by: str = Field(default="api", max_length=200, description="ignored: the decision records the signed-in identity")
    role: str | None = Field(default=None, max_length=200, description="ignored: the role is the step's approver "
                             "role, or the caller's approver/admin role")

    @model_validator(mode="after")
    def _content_only_for_amend(self) -> ApprovalDecision:
        if self.decision == "amend" and not self.content:
            raise ValueError("content is required when decision is 'amend'")
        if self.decision != "amend" and self.content is not None:
            raise ValueError("content is only allowed when decision is 'amend'")
        if self.decision == "answer" and not self.comment.strip():
            raise ValueError("comment (the answer's text) is required when decision is 'answer'")
        if self.decision in ("choose", "raise") and not self.choice:
            raise ValueError(f"choice is required when decision is '{self.decision}'")
        return self


class DecisionResult(BaseModel):
    run_id: str
    step: str
    result: Any = None


class RunApproval(PendingApproval):
    run_id: str
    workflow_id: str


class ApprovalList(BaseModel):
    items: list[RunApproval]
    unreachable: list[str] = Field(
        default_factory=list, description="running runs whose workflow did not answer the progress query"
    )


class ArtifactVersion(BaseModel):
    version: int
    step: str
    sha256: str
    bytes: int
    media_type: str
    created_at: str
    raw_url: str


class ArtifactSummary(BaseModel):
    name: str
    latest_version: int
    versions: int
    step: str
    sha256: str
    bytes: int
    media_type: str
    created_at: str


class ArtifactList(BaseModel):
    run_id: str
    items: list[ArtifactSummary]


class ArtifactDetail(BaseModel):
    run_id: str
    name: str
    versions: list[ArtifactVersion]


class CheckResult(BaseModel):
    status: Literal["ok", "down", "not_configured"]
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, CheckResult]
