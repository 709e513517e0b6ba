"""Builds an agent step's task prompt from the plan: instructions, input documents, and the output outline."""

from __future__ import annotations

import json
import re
from typing import Any

from activities.headless import headless_section
from activities.jumps import jumps_section
from bmad.plan import Plan, PlanStep, TemplateSection, TemplateSpec
from bmad.templates import substitute
from providers.offline import ANSWERS_HEADING, FEEDBACK_HEADING, ITERATION_LINE, OUTLINE_END, OUTLINE_START
from workflows.contracts import Answer

_SCOPE = re.compile(r"^(?P<name>.+)-(?P<n>\d+)$")  # workflows.run.scope_name: "epic-2"


def item_variables(name: str, n: int, item: Any) -> dict[str, Any]:
    """What the n-th item of a repeat over `name`s (epic) tells a template: `epic_number`, and for a list item
    `epic` (the item) and `epic_title` (a text item, or the item's title/name), and `epic_<field>` per field."""
    values: dict[str, Any] = {f"{name}_number": n}
    if item is None:
        return values
    values[name] = item
    if isinstance(item, dict):
        values.update({f"{name}_{k}": v for k, v in item.items() if isinstance(k, str)})
        title = item.get("title", item.get("name"))
        if title is not None:
            values.setdefault(f"{name}_title", title)
    elif isinstance(item, str):
        values[f"{name}_title"] = item
    return values


def iteration_variables(scope: str | None, item: Any) -> dict[str, Any]:
    """The variables of the iteration a step runs in (scope `epic-2`, its item), plus `iteration`."""
    match = _SCOPE.match(scope or "")
    if match is None:
        return {}
    n = int(match["n"])
    return {"iteration": n, **item_variables(match["name"], n, item)}


def repeated_items(plan: Plan, variables: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """For each repeat whose run input is given (`for_each_epic`: a count or a list), the variables of each of
    its items, by the singular name (`epic`): a document written before the iterations (the PRD) lists them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for block in plan.repeat_blocks:
        value = variables.get(block.input_name)
        name = block.input_name.removeprefix("for_each_")
        if isinstance(value, bool) or not isinstance(value, int | list):
            continue
        items = [None] * value if isinstance(value, int) else value
        found[name] = [item_variables(name, n, item) for n, item in enumerate(items, start=1)]
    return found


def _items_for(section: TemplateSection, repeats: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    if not section.repeatable:
        return None
    return next((each for name, each in repeats.items() if section.id in (name, f"{name}s")), None)


def _outline_lines(
    sections: list[TemplateSection], depth: int, variables: dict[str, Any], repeats: dict[str, list[dict[str, Any]]],
) -> list[str]:
    """A repeatable section named for a repeat with known items is written once per item (`epic`), or, named
    for all of them (`epics`), once with its sub-sections once per item: `Epic 1: …`, `Epic 2: …`."""
    lines: list[str] = []
    for section in sections:
        each = _items_for(section, repeats)
        if each is None:
            lines.extend(_section_lines(section, depth, variables, repeats))
        elif section.sections and section.id.endswith("s"):
            lines.extend(_heading_lines(section, depth, variables))
            for values in each:
                lines.extend(_outline_lines(section.sections, depth + 1, {**variables, **values}, repeats))
        else:
            for values in each:
                lines.extend(_section_lines(section, depth, {**variables, **values}, repeats))
    return lines


def _heading_lines(section: TemplateSection, depth: int, variables: dict[str, Any]) -> list[str]:
    lines = [f"{'#' * min(depth, 6)} {substitute(section.title or section.id, variables)}"]
    if section.instruction:
        lines.append(f"<!-- instruction: {' '.join(substitute(section.instruction, variables).split())} -->")
    if section.condition:
        lines.append(f"<!-- include only if: {section.condition} -->")
    return lines


def _section_lines(
    section: TemplateSection, depth: int, variables: dict[str, Any], repeats: dict[str, list[dict[str, Any]]],
) -> list[str]:
    return _heading_lines(section, depth, variables) + _outline_lines(section.sections, depth + 1, variables, repeats)


def outline_for(
    template: TemplateSpec | None, output: str, variables: dict[str, Any] | None = None,
    repeats: dict[str, list[dict[str, Any]]] | None = None,
) -> list[str]:
    """The document's headings and instructions; `{{variables}}` from the run's inputs and the iteration are
    filled in (an unknown one stays visible as `{{name}}`, for the model to fill), and a repeatable section
    named for a repeat with known items (`epic`) is written once per item."""
    variables = variables or {}
    title = substitute((template.title or template.name) if template else "", variables)
    lines = [f"# {title or output}"]
    if template:
        lines.extend(_outline_lines(template.sections, 2, variables, repeats or {}))
    return lines


def build_task_prompt(
    plan: Plan,
    step: PlanStep,
    output: str,
    inputs: dict[str, str],
    missing: list[str],
    item: Any = None,
    scope: str | None = None,
    feedback: str | None = None,
    variables: dict[str, Any] | None = None,
    answers: list[Answer] | None = None,
) -> str:
    verb = "Update" if step.updates and not step.creates else "Write"
    parts = [f"# Step {step.id} of workflow {plan.workflow_id}: {verb} {output}"]
    if step.action:
        parts.append(f"Action: {step.action}")
    if step.uses:
        parts.append(f"Use: {step.uses}")
    if scope:
        detail = f" — item: {json.dumps(item, ensure_ascii=False)}" if item is not None else ""
        parts.append(f"{ITERATION_LINE}{scope}{detail}.")
    if step.handoff_prompt:
        parts.append(f"## Handoff\n{step.handoff_prompt}")
    if step.notes:
        parts.append(f"## Instructions\n{step.notes.strip()}")
    if step.optional_steps:
        parts.append("Optional sub-steps you may fold in: " + ", ".join(step.optional_steps))
    for name, text in inputs.items():
        parts.append(f"## Input document: {name}\n\n{text.strip()}")
    if missing:
        parts.append("Not available (not provided with the run): " + ", ".join(missing))
    for a in answers or []:
        asked = "Your last result's open questions" if a.round else "The instructions ask"
        if a.assumed:
            where = "in the result's `assumptions`" if a.round else "under 'Assumptions' in the document"
            parts.append(f"{ANSWERS_HEADING}\nNobody is asked: {a.question}\nAnswer with your best assumption, "
                         f"say so {where}, and go on.")
        else:
            parts.append(f"{ANSWERS_HEADING}\n{asked}: {a.question}\n{a.by} answered: "
                         f"{a.answer.strip()}\nGo on with this answer; do not ask again.")
    if feedback is not None:
        parts.append(
            f"{FEEDBACK_HEADING}\nA person rejected the current version of {output}. Revise it:\n{feedback.strip()}"
        )
    if step.headless:
        parts.append(headless_section(step))
    if step.jumps:
        parts.append(jumps_section(plan.steps, step))
    template = plan.templates.get(step.template) if step.template else None
    known = {**(variables or {}), **iteration_variables(scope, item)}
    outline = outline_for(template, output, known, None if scope else repeated_items(plan, known))
    parts.append(
        f"## Output: {output}\nReply with the complete document in Markdown, with these sections in order.\n"
        + "\n".join([OUTLINE_START, *outline, OUTLINE_END])
    )
    return "\n\n".join(parts) + "\n"


def required_sections(plan: Plan, step: PlanStep) -> list[str]:
    """Titles of the top-level sections the step's template asks for, which the answer must have as headings.

    Conditional sections may rightly be left out, and titles with {{variables}} are filled in by the model, so
    neither can be checked by name; no template, nothing to check.
    """
    template = plan.templates.get(step.template) if step.template else None
    if template is None:
        return []
    return [
        s.title or s.id for s in template.sections if not s.condition and "{{" not in (s.title or s.id)
    ]
