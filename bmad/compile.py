"""Compile one workflow of a validated Catalog into a sealed, self-contained Plan.

Step ids: the `step:` name when given, else `NN-<agent>-<artifact>` (or `NN-<bare key>` for control entries
such as `- project_setup_guidance:`), made unique with a numeric suffix.

Handoff prompts: a step gets `handoff_prompts[key]` when `key` reads `<prev>_to_<this>`, where `<prev>` is an
agent of the nearest earlier agent step and `<this>` an agent of this step (`ux` means `ux-expert`, `_` reads
as `-`). The first such key in file order wins; other keys (e.g. `architect_review`) are not attached.

Templates: 1) the step's `uses:` when it names a template; 2) `templates/<artifact stem>-tmpl`;
3) a template in the step agent's `dependencies.templates` whose output file name equals the artifact's;
4) any template (by stem order) whose output file name equals the artifact's; 5) none.
"""

from __future__ import annotations

from typing import Literal

from bmad.agentnames import meant_agent
from bmad.approval import parse_approval
from bmad.artifacts import COLLECTIVE, name_list, normalize, slug, stem
from bmad.criteria import CHECK_AGENT, CHECK_STEP
from bmad.diagnostics import DefinitionError, Diagnostic
from bmad.models import Catalog, StepDef, WorkflowDef
from bmad.plan import ApprovalSpec, Plan, PlanStep, RepeatBlock, RouteOption, SourceRef
from bmad.specs import agent_spec, template_spec

_ALIASES = {"ux": "ux-expert"}


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _template_for(catalog: Catalog, uses: str | None, agents: list[str], output: str | None) -> str | None:
    if uses and (named := catalog.template(uses)) is not None:
        return named.id
    if not output:
        return None
    if (by_stem := catalog.templates.get(f"{stem(output)}-tmpl")) is not None:
        return by_stem.id
    own = [catalog.template(d) for a in agents if a in catalog.agents
           for d in catalog.agents[a].dependencies.get("templates", [])]
    everywhere = [catalog.templates[k] for k in sorted(catalog.templates)]
    for template in [t for t in own if t is not None] + everywhere:
        if template.output.filename and _base(template.output.filename) == _base(output):
            return template.id
    return None


def _agent_ids(catalog: Catalog, agent: str | None, near: str) -> list[str]:
    """The agent ids of `agent` as written in the file `near` (`analyst/pm` → two; `various` → none; a file
    name → its id; an unknown id → the one agent that fits it, bmad/agentnames.py)."""
    parts = [p.strip() for p in (agent or "").split("/") if p.strip() and p.strip() != "various"]
    return [meant_agent(catalog, p, near) or p for p in parts]


def _plan_step(catalog: Catalog, wf: WorkflowDef, sd: StepDef) -> PlanStep:
    f = sd.fields
    name = _text(f.get("step"))
    agent = _text(f.get("agent")) if sd.bare_key is None else None
    agents = _agent_ids(catalog, agent, wf.source.path)
    step = PlanStep(
        index=sd.index,
        id=name or "",
        kind="agent" if agent else "control",
        agent=agent,
        agents=agents,
        condition=_text(f.get("condition")),
        optional=f.get("optional") is True,
        optional_steps=[s for s in f.get("optional_steps") or [] if isinstance(s, str)],
        repeats=_text(f.get("repeats")),
        action=_text(f.get("action")),
        uses=_text(f.get("uses")),
        notes=(f.get("notes") or "").rstrip() if isinstance(f.get("notes"), str) else "",
        source=SourceRef(path=wf.source.path, line=sd.line, col=sd.col),
    )
    if agent:
        step.approval = _approval(f.get("approval"))
        step.creates = normalize(_text(f.get("creates")), name)
        step.creates_raw = _text(f.get("creates"))
        step.updates = normalize(_text(f.get("updates")), name)
        step.validates = normalize(_text(f.get("validates")), name)
        step.template = _template_for(catalog, step.uses, agents, step.output)
    step.requires = name_list(f.get("requires"))
    return step


def _approval(value: object) -> ApprovalSpec | None:
    try:
        return parse_approval(value)
    except ValueError:
        return None  # reported by validation with its position; compile refuses workflows with errors


def _derived_id(step: PlanStep, sd: StepDef) -> str:
    if sd.bare_key is not None:
        tail = slug(sd.bare_key)
    else:
        artifact = step.output or step.validates
        parts = [slug(step.agent or ""), slug(stem(artifact)) if artifact else slug(step.action or "")]
        tail = "-".join(p for p in parts if p)
    return f"{step.index + 1:02d}-{tail or 'step'}"


def _handoff(prompts: dict[str, str], previous: list[str], current: list[str]) -> str | None:
    for key, prompt in prompts.items():
        if "_to_" not in key:
            continue
        before, after = (_ALIASES.get(p, p.replace("_", "-")) for p in key.split("_to_", 1))
        if before in previous and after in current:
            return prompt.strip()
    return None


def _steps(catalog: Catalog, wf: WorkflowDef) -> list[PlanStep]:
    """The main sequence, then the steps of route branches (they run only when their branch is chosen)."""
    steps: list[PlanStep] = []
    branches: list[tuple[PlanStep, str, dict]] = []
    used: set[str] = set()
    previous: list[str] = []
    for sd in wf.sequence:
        step = _plan_step(catalog, wf, sd)
        base = step.id or _derived_id(step, sd)
        step.id, n = base, 2
        while step.id in used:
            step.id, n = f"{base}-{n}", n + 1
        used.add(step.id)
        if step.agent:
            current = [p.strip() for p in step.agent.split("/")]
            step.handoff_prompt = _handoff(wf.handoff_prompts, previous, current)
            previous = current
        routes = sd.fields.get("routes")
        if isinstance(routes, dict):
            step.kind, step.agent, step.agents = "control", None, []
            branches += [(step, str(name), b) for name, b in routes.items() if isinstance(b, dict)]
        steps.append(step)
    if wf.completion_criteria:
        steps.append(_criteria_step(wf, len(steps), used))
    for parent, name, branch in branches:
        option, sub = _route(catalog, wf, parent, name, branch, len(steps))
        parent.routes.append(option)
        if sub is not None:
            steps.append(sub)
    return steps


def _criteria_step(wf: WorkflowDef, index: int, used: set[str]) -> PlanStep:
    """The last step checks the completion criteria; BotArmy runs it, not a model (bmad/criteria.py)."""
    step_id, n = CHECK_STEP, 2
    while step_id in used:
        step_id, n = f"{CHECK_STEP}-{n}", n + 1
    line, col = wf.criteria_pos[0] if wf.criteria_pos else (wf.source.line, wf.source.col)
    return PlanStep(index=index, id=step_id, agent=CHECK_AGENT, creates=f"{CHECK_STEP}.md",
                    criteria=list(wf.completion_criteria), notes="Checks the workflow's completion criteria.",
                    source=SourceRef(path=wf.source.path, line=line, col=col))


def _route(
    catalog: Catalog, wf: WorkflowDef, parent: PlanStep, name: str, branch: dict, index: int
) -> tuple[RouteOption, PlanStep | None]:
    """A branch with an agent runs that agent's step and then ends the workflow, unless it says `continue:`;
    a branch with only `continue:` goes on with the next entry of the sequence."""
    notes = (branch.get("notes") or "").strip() if isinstance(branch.get("notes"), str) else ""
    agent = _text(branch.get("agent"))
    then: Literal["continue", "exit"] = "continue" if "continue" in branch or not agent else "exit"
    if not agent:
        return RouteOption(name=name, then=then, notes=notes), None
    agents = _agent_ids(catalog, agent, wf.source.path)
    sub = PlanStep(
        index=index, id=f"{parent.id}.{slug(name)}", kind="agent", agent=agent, agents=agents,
        creates=normalize(_text(branch.get("creates")), None), creates_raw=_text(branch.get("creates")),
        uses=_text(branch.get("uses")), action=_text(branch.get("action")), notes=notes,
        requires=name_list(branch.get("requires")), route_of=parent.id, source=parent.source,
    )
    sub.template = _template_for(catalog, sub.uses, agents, sub.output)
    return RouteOption(name=name, step=sub.id, then=then, notes=notes), sub


def _repeat_blocks(wf: WorkflowDef, steps: list[PlanStep]) -> list[RepeatBlock]:
    """A `repeats:` step starts a block that ends before the next repeat control entry, `- repeat_...:` (v4.41)
    or `- step: repeat_...` without an agent (v4.44), or is the step alone when there is none; a step of a phase
    (or of a top-level `steps:` list) loops to the end of its phase (or alone). A `repeats:` step inside an
    earlier block does not start another."""
    blocks: list[RepeatBlock] = []
    for step in steps:
        if not step.repeats or (blocks and step.index <= blocks[-1].end):
            continue
        group = wf.sequence[step.index].group
        end = step.index if group is None else max(sd.index for sd in wf.sequence if sd.group == group)
        for sd in wf.sequence[step.index + 1:end + 1 if group is not None else None]:
            control = sd.bare_key or ("" if sd.fields.get("agent") else _text(sd.fields.get("step")) or "")
            if control.startswith("repeat_"):
                end = sd.index - 1
                break
        blocks.append(RepeatBlock(input_name=step.repeats, start=step.index, end=end))
    return blocks


def _external_inputs(steps: list[PlanStep]) -> list[str]:
    produced: set[str] = set()
    external: list[str] = []
    for step in steps:
        for name in step.requires:
            if name not in COLLECTIVE and name not in produced and name not in external:
                external.append(name)
        produced.update(n for n in (step.creates, step.updates) if n)
    return external


def default_route(step: PlanStep) -> str:
    """Without an input or a person, a routing step takes the first branch that continues the workflow."""
    return next((r.name for r in step.routes if r.then == "continue"), step.routes[0].name)


def _route_defaults(steps: list[PlanStep]) -> dict[str, object]:
    """The routing input defaults to its default branch; `<branch>_path` conditions follow the branch taken."""
    defaults: dict[str, object] = {}
    for step in steps:
        if step.routes:
            chosen = default_route(step)
            defaults[step.condition or step.id] = chosen
            defaults.update({f"{r.name}_path": r.name == chosen for r in step.routes})
    return defaults


def _relevant_errors(catalog: Catalog, paths: set[str], wf: WorkflowDef | None = None) -> list[Diagnostic]:
    """Errors in `paths`; in a file of named sequences, not those inside another sequence of it."""
    others = [w.span for w in catalog.workflows.values()
              if wf is not None and w.span and w.source.path == wf.source.path and w.span != wf.span]

    def elsewhere(d: Diagnostic) -> bool:
        return wf is not None and d.path == wf.source.path and any(a <= d.line <= b for a, b in others)

    return [d for d in catalog.diagnostics if d.severity == "error" and d.path in paths and not elsewhere(d)]


def compile_workflow(catalog: Catalog, workflow_id: str) -> Plan:
    """The sealed Plan of `workflow_id`; raises DefinitionError with every error relevant to it (its own
    file, files declaring the same id, and the agent and template files it uses)."""
    wf = catalog.workflows.get(workflow_id)
    base, _, sequence = workflow_id.partition(":")
    if wf is None and sequence and catalog.workflows.get(base, None) is not None:
        named = [w.split(":", 1)[1] for w in catalog.workflows if w.startswith(f"{base}:")]
        source = catalog.workflows[base].source.path  # the file that names the sequences
        raise DefinitionError([Diagnostic(source, 0, 0, f"workflow '{base}' has no sequence '{sequence}'; "
                                          f"its sequences: {', '.join(named) or 'none (run it as ' + base + ')'}")])
    if wf is None:
        known = ", ".join(sorted(catalog.workflows)) or "none"
        raise DefinitionError([Diagnostic(workflow_id, 0, 0, f"unknown workflow '{workflow_id}'; available "
                                          f"workflows: {known}")])
    errors = _relevant_errors(catalog, {wf.source.path, *wf.duplicates}, wf)
    if errors:
        raise DefinitionError(errors)
    if workflow_id in catalog.plans:  # BMAD v6: compiled when loaded (bmad/v6/plans.py)
        return catalog.plans[workflow_id]
    steps = _steps(catalog, wf)
    agent_ids = sorted({a for s in steps for a in s.agents if a in catalog.agents})
    template_ids = sorted({s.template for s in steps if s.template})
    used_files = {catalog.agents[a].source.path for a in agent_ids}
    used_files |= {catalog.templates[t].source.path for t in template_ids}
    errors = _relevant_errors(catalog, used_files)
    if errors:
        raise DefinitionError(errors)
    blocks = _repeat_blocks(wf, steps)
    conditions = sorted({s.condition for s in steps if s.condition})
    defaults: dict[str, object] = {name: "" for name in wf.declared_inputs}  # the `steps:` form's `inputs:`
    defaults.update({b.input_name: 1 for b in blocks})
    defaults.update({c: False for c in conditions})
    defaults.update(_route_defaults(steps))
    plan = Plan(
        workflow_id=wf.id,
        name=wf.name,
        description=wf.description,
        steps=steps,
        agents={a: agent_spec(catalog.agents[a]) for a in agent_ids},
        templates={t: template_spec(catalog.templates[t]) for t in template_ids},
        repeat_blocks=blocks,
        external_inputs=_external_inputs(steps),
        conditions=conditions,
        input_defaults=defaults,
        source=wf.source,
        **_budget(wf.budget),
    )
    return plan.seal()


def _budget(value: object) -> dict[str, object]:
    """`budget: {usd: 5, tokens: 200000}` on the workflow; shapes are checked by validation."""
    if not isinstance(value, dict):
        return {}
    usd, tokens = value.get("usd"), value.get("tokens")
    return {
        "budget_usd": float(usd) if isinstance(usd, int | float) and not isinstance(usd, bool) else None,
        "budget_tokens": int(tokens) if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
    }
