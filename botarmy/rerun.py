"""Rerunning a run from a step: the one way the CLI and the API prepare a rerun (or a retry) for `launch`.

The new run is pinned to its parent's plan (or, asked for, the current definition) and model; every step of the
parent that completed before the fork point is carried over without a model call (its documents recorded by
reference, same sha256 and versions: activities/reuse.py), edited documents become new versions right after the
step that last wrote them (or replace an external input), and the fork point and what follows run again. Without a
fork point, a failed, cancelled or stopped run continues from its first step that did not complete. A carried
headless step whose last result is still partial or blocked asks its open questions again in the new run; a carried
step that asks a person first (`<ask>`) does not ask again: the new run is given the parent's answers
(RunLineage.answers, RunInput.carried_steps).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from bmad.criteria import CHECK_AGENT
from bmad.inputs import INPUT_APPROVE, INPUT_TEAM, check_run_inputs
from bmad.plan import Plan, PlanStep
from providers.pin import RunModel
from store import ReusePlan, RunLineage, RunView, Store
from store.reuse import base_key

_DONE = frozenset({"completed", "skipped"})


class RerunRefused(ValueError):
    """A rerun that cannot be made as asked; the message is one line saying why and what to do. `field`: the
    request field at fault (from_step, artifacts), None when it is the run's state (running, completed)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rerun:
    """Everything `launch` needs for the new run, and what the person is told."""

    parent: RunView
    plan: Plan
    run_model: RunModel | None
    inputs: dict[str, Any]
    files: dict[str, bytes]
    approve: str | list[str]
    team: str | None
    from_step: str  # the plan step id the rerun starts at
    lineage: RunLineage
    carried: list[str] = field(default_factory=list)  # step keys carried over
    changed: list[str] = field(default_factory=list)  # --definition current: step ids whose definition changed


def step_hashes(plan: Plan) -> dict[str, str]:
    """sha256 per step id of what defines the step: the entry itself, its agents' personas and its template."""
    hashes = {}
    for step in plan.steps:
        body = {
            "step": step.model_dump(mode="json", exclude={"index", "source"}),
            "agents": [plan.agents[a].system_message for a in step.agents if a in plan.agents],
            "template": (plan.templates[step.template].model_dump(mode="json", exclude={"source"})
                         if step.template and step.template in plan.templates else None),
        }
        hashes[step.id] = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return hashes


def changed_steps(pinned: Plan, current: Plan) -> list[str]:
    """Step ids whose definition differs between two plans (added and removed steps included), in plan order."""
    old, new = step_hashes(pinned), step_hashes(current)
    ids = [s.id for s in current.steps] + [s.id for s in pinned.steps if s.id not in new]
    return [i for i in ids if old.get(i) != new.get(i)]


def _fork_step(plan: Plan, parent: RunView, from_step: str | None) -> PlanStep:
    agent_steps = [s for s in plan.steps if s.kind == "agent" and not s.route_of]
    by_id = {s.id: s for s in plan.steps}
    if from_step is not None:
        keyed = {st.key: st.step_id for st in parent.steps}
        step_id = from_step if from_step in by_id else keyed.get(from_step)
        if step_id is None and from_step.isdigit() and 1 <= int(from_step) <= len(agent_steps):
            step_id = agent_steps[int(from_step) - 1].id  # "3": the third agent step
        if step_id is None or step_id not in by_id:
            raise RerunRefused(f"--from {from_step}: run {parent.run_id} has no such step; use a step id "
                               f"({', '.join(s.id for s in agent_steps)}) or its number", "from_step")
        return by_id[step_id]
    if parent.status == "completed":
        raise RerunRefused(f"run {parent.run_id} completed; give --from STEP to rerun it from a step")
    rows: dict[str, list[str]] = {}
    for st in parent.steps:
        rows.setdefault(st.step_id, []).append(st.status)
    for step in agent_steps:
        statuses = rows.get(step.id, [])
        if not statuses or any(status not in _DONE for status in statuses):
            return step
    raise RerunRefused(f"run {parent.run_id} has no step left to run; give --from STEP to rerun from a step")


def carried_answers(plan: Plan, parent: RunView, carried: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The parent's recorded answers to the questions (`<ask>`) of the carried steps that ask, by step key: the
    first answer recorded for such a step is its `<ask>`'s (asked before it ran; later ones answered a headless
    result's open questions, which a completed carried step no longer has)."""
    asking = {s.id for s in plan.steps if s.asks}
    keys = {k for k in carried if re.split(r"[\[#]", k, maxsplit=1)[0] in asking}
    found: dict[str, list[dict[str, Any]]] = {}
    for d in parent.decisions:
        if d.get("kind") == "answer" and d.get("step") in keys and d["step"] not in found:
            found[d["step"]] = [d]
    return found


def prepare_rerun(
    store: Store,
    run_id: str,
    from_step: str | None = None,
    artifacts: dict[str, bytes] | None = None,
    inputs: dict[str, Any] | None = None,
    current: Plan | None = None,
    force: bool = False,
) -> Rerun:
    """The rerun of `run_id` (sync: call from a thread). Raises RerunRefused (one line) when it cannot be made,
    InvalidInputs when the inputs do not fit the plan. Edited documents' contents are stored (as blobs) here."""
    parent = store.get_run(run_id)
    if parent is None:
        raise RerunRefused(f"no run {run_id!r}")
    if parent.status == "running":
        raise RerunRefused(f"run {run_id} is still running; `botarmy cancel {run_id}` it first, or wait for it")
    try:
        pinned = Plan.model_validate_json(store.load_plan(parent.definition_hash))
    except KeyError:
        raise RerunRefused(f"run {run_id}'s plan {parent.definition_hash[:12]} is not stored (pruned?): start a new "
                           f"run of {parent.workflow_id}") from None
    plan = current or pinned
    fork = _fork_step(pinned, parent, from_step)
    order = {s.id: s.index for s in pinned.steps}
    changed = changed_steps(pinned, plan) if current is not None else []
    before = [i for i in changed if i in order and order[i] < fork.index]
    if before and not force:
        raise RerunRefused(f"step{'s' if len(before) > 1 else ''} {', '.join(before)} changed since run {run_id} "
                           f"(before {fork.id}: {'their' if len(before) > 1 else 'its'} documents would not match); "
                           f"rerun from {before[0]} or earlier, or add --force", "from_step")
    in_plan = {s.id for s in plan.steps}
    outputs = [a for a in parent.artifacts if not a.step.startswith("input:")]
    produced = {base_key(a.step) for a in outputs}
    carried = [st.key for st in parent.steps
               if st.status == "completed" and st.step_id in order and order[st.step_id] < fork.index
               and st.step_id in in_plan and st.agent != CHECK_AGENT and st.key in produced]
    files = {a.name: store.read_artifact(a.id, a.sha256) for a in parent.artifacts if a.step == f"input:{a.name}"}
    replace: dict[str, dict[str, str]] = {}
    for name, content in (artifacts or {}).items():
        writers = [base_key(a.step) for a in outputs if a.name == name and base_key(a.step) in carried]
        if writers:  # the edited document follows the last carried step that wrote it
            replace.setdefault(writers[-1], {})[name] = store.put_blob(content)
        elif name in files or name in plan.external_inputs:
            files[name] = content
        else:
            raise RerunRefused(f"--artifact {name}: no step before {fork.id} writes it and the workflow does not "
                               f"take it as an input; rerun from an earlier step to replace it", "artifacts")
    recorded = dict(parent.inputs)
    approve = recorded.pop(INPUT_APPROVE, "none")
    team = recorded.pop(INPUT_TEAM, None)
    for d in parent.decisions:  # carried steps took these paths: the rerun takes them too, unless told otherwise
        step_id = str(d.get("step", "")).split("[")[0]
        source = str(d.get("source", ""))
        if d.get("kind") == "condition" and order.get(step_id, fork.index) < fork.index \
                and source != "input" and not source.startswith("route "):
            recorded.setdefault(d["condition"], d["choice"] if d.get("choice") else d["value"])
    recorded.update(inputs or {})
    checked = check_run_inputs(plan, recorded, list(files), approve)  # InvalidInputs names every problem
    run_model = None
    if parent.model_sha256 is not None:
        run_model = RunModel.load(parent.model_sha256, store.load_run_model(parent.model_sha256))
    lineage = RunLineage(parent_run_id=run_id, rerun_from=fork.id,
                         reuse=ReusePlan(carry=dict.fromkeys(carried, run_id), replace=replace),
                         answers=carried_answers(plan, parent, carried))
    return Rerun(parent=parent, plan=plan, run_model=run_model, inputs=checked.inputs, files=files,
                 approve=checked.approve, team=team, from_step=fork.id, lineage=lineage, carried=carried,
                 changed=changed)
