"""Checking a run's inputs against its Plan before the run starts: every problem at once, or the normalised inputs.

Pure: no I/O. The CLI (`botarmy run`) and the API (`POST /runs`) both call `check_run_inputs`, so a flag and a
request body are refused for the same reasons with the same words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bmad.limits import Limits, input_problems
from bmad.placeholders import variable_names
from bmad.plan import Plan, TemplateSection

InputField = Literal["inputs", "artifacts", "approve"]
INPUT_TEAM, INPUT_APPROVE = "_team", "_approve"
RESERVED = (INPUT_TEAM, INPUT_APPROVE)  # set by the engine itself, never by the person starting the run
ENGINE_INPUTS = ("skip", "skip_optional")  # read by the interpreter for every workflow
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with a run's inputs: which field (and key in it) and what to do about it."""

    field: InputField
    key: str | None
    message: str


@dataclass(frozen=True)
class RunInputs:
    inputs: dict[str, Any]
    approve: str | list[str]  # "all", "none" or agent ids


class InvalidInputs(ValueError):
    """Raised with every problem found, not only the first."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def route_inputs(plan: Plan) -> dict[str, list[str]]:
    """Routing inputs (a step's `condition`, else its id) and the branch names each may take."""
    return {s.condition or s.id: [r.name for r in s.routes] for s in plan.steps if s.routes and s.route_of is None}


def condition_inputs(plan: Plan) -> list[str]:
    """Inputs that decide a condition: yes or no."""
    routes = route_inputs(plan)
    names = set(plan.conditions) | {k for k, v in plan.input_defaults.items() if isinstance(v, bool)}
    return sorted(names - set(routes))


def repeat_inputs(plan: Plan) -> list[str]:
    return sorted({b.input_name for b in plan.repeat_blocks})


def template_variables(plan: Plan) -> list[str]:
    """Inputs that fill `{{name}}` in the plan's document templates (titles and instructions)."""
    texts: list[str] = []

    def walk(sections: list[TemplateSection]) -> None:
        for s in sections:
            texts.extend([s.title or s.id, s.instruction])
            walk(s.sections)

    for t in plan.templates.values():
        texts.append(t.title or t.name)
        walk(t.sections)
    return sorted({n for text in texts for n in variable_names(text)})


def known_inputs(plan: Plan) -> list[str]:
    """Every input key a run of `plan` may be given (the engine's reserved `_team`, `_approve` included)."""
    names = set(plan.input_defaults) | set(condition_inputs(plan)) | set(repeat_inputs(plan))
    names |= set(template_variables(plan))
    return sorted(names | set(route_inputs(plan)) | set(ENGINE_INPUTS)) + list(RESERVED)


def plan_agents(plan: Plan) -> list[str]:
    return sorted({a for s in plan.steps for a in s.agents})


def as_bool(value: Any) -> bool | None:
    """True/False for a boolean or true/false/yes/no (any case); None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class _Rules:
    """What each input key of one plan may be."""

    known: list[str]
    conditions: set[str]
    repeats: set[str]
    routes: dict[str, list[str]]
    steps: set[str]

    @classmethod
    def of(cls, plan: Plan) -> _Rules:
        return cls(known_inputs(plan), set(condition_inputs(plan)), set(repeat_inputs(plan)), route_inputs(plan),
                   {s.id for s in plan.steps})

    def check(self, key: str, value: Any) -> tuple[Any, str | None]:
        """(the normalised value, None), or (None, what is wrong with it)."""
        if key not in self.known:
            return None, f"unknown input; known inputs: {', '.join(k for k in self.known if k not in RESERVED)}"
        if key in self.conditions or key == "skip_optional":
            flag = as_bool(value)
            return (flag, None) if flag is not None else (
                None, f"{_show(value)} is not a condition value; use true or false")
        if key in self.repeats:
            if isinstance(value, list) or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                return value, None
            return None, f"{_show(value)} must be a count (e.g. 3) or a JSON list (e.g. [\"a\",\"b\"])"
        if key in self.routes and not (isinstance(value, str) and value in self.routes[key]):
            return None, f"{_show(value)} is not a branch; use one of: {', '.join(self.routes[key])}"
        if key == "skip" and (unknown := [str(i) for i in (value if isinstance(value, list) else [value])
                                          if i not in self.steps]):
            return None, f"no step {', '.join(unknown)}; steps: {', '.join(sorted(self.steps))}"
        return value, None


def check_run_inputs(
    plan: Plan, inputs: dict[str, Any], artifacts: list[str] | tuple[str, ...] | Mapping[str, int] = (),
    approve: str | list[str] = "none", limits: Limits | None = None,
) -> RunInputs:
    """The inputs with conditions made booleans, and the approve policy as "all", "none" or agent ids; raises
    InvalidInputs naming every problem: unknown keys, ill-typed values, unknown artifact names or agents, and
    what is over a limit (bmad.limits: the inputs' total size, a repeat's iterations, `artifacts` given as
    name -> bytes over the document size)."""
    problems: list[InputProblem] = []
    out: dict[str, Any] = {}
    rules = _Rules.of(plan)
    for key, value in inputs.items():
        normalised, problem = rules.check(key, value)
        if problem is None:
            out[key] = normalised
        else:
            problems.append(InputProblem("inputs", key, problem))
    for name in artifacts:
        if name not in plan.external_inputs:
            known_docs = (f"known documents: {', '.join(plan.external_inputs)}" if plan.external_inputs
                          else f"{plan.workflow_id} takes none")
            problems.append(InputProblem("artifacts", name, f"unknown external document; {known_docs}"))
    policy = _approve_policy(plan, approve, problems)
    repeats = {k: out.get(k, plan.input_defaults.get(k)) for k in rules.repeats if k in out or k in plan.input_defaults}
    documents = dict(artifacts) if isinstance(artifacts, Mapping) else {}
    problems.extend(InputProblem("artifacts" if p.field == "artifacts" else "inputs", p.key, p.message)
                    for p in input_problems(limits or Limits(), out, repeats, documents))
    if problems:
        raise InvalidInputs(problems)
    return RunInputs(out, policy)


def _approve_policy(plan: Plan, approve: str | list[str], problems: list[InputProblem]) -> str | list[str]:
    if isinstance(approve, str):
        if approve.strip() in ("all", "none"):
            return approve.strip()
        approve = [a.strip() for a in approve.split(",") if a.strip()]
    agents = plan_agents(plan)
    unknown = [a for a in approve if a not in agents]
    if not approve or unknown:
        what = f"{plan.workflow_id} does not use {', '.join(unknown)}" if unknown else "no agent named"
        problems.append(InputProblem("approve", None, f"{what}; use all, none, or agents of {plan.workflow_id}: "
                                                      f"{', '.join(agents)}"))
    return list(dict.fromkeys(approve))
