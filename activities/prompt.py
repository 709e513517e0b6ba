"""Builds an agent step's task prompt from the plan: instructions, input documents, and the output outline."""

from __future__ import annotations

import json
from typing import Any

from bmad.plan import Plan, PlanStep, TemplateSection, TemplateSpec
from bmad.templates import substitute
from providers.offline import FEEDBACK_HEADING, OUTLINE_END, OUTLINE_START


def _outline_lines(sections: list[TemplateSection], depth: int, variables: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for section in sections:
        title = substitute(section.title or section.id, variables)
        lines.append(f"{'#' * min(depth, 6)} {title}")
        if section.instruction:
            lines.append(f"<!-- instruction: {' '.join(substitute(section.instruction, variables).split())} -->")
        if section.condition:
            lines.append(f"<!-- include only if: {section.condition} -->")
        lines.extend(_outline_lines(section.sections, depth + 1, variables))
    return lines


def outline_for(template: TemplateSpec | None, output: str, variables: dict[str, Any] | None = None) -> list[str]:
    """The document's headings and instructions; `{{variables}}` from the run's inputs are filled in (an
    unknown one stays visible as `{{name}}`, for the model to fill)."""
    variables = variables or {}
    title = substitute((template.title or template.name) if template else "", variables)
    lines = [f"# {title or output}"]
    if template:
        lines.extend(_outline_lines(template.sections, 2, variables))
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
) -> str:
    verb = "Update" if step.updates and not step.creates else "Write"
    parts = [f"# Step {step.id} of workflow {plan.workflow_id}: {verb} {output}"]
    if step.action:
        parts.append(f"Action: {step.action}")
    if step.uses:
        parts.append(f"Use: {step.uses}")
    if scope:
        detail = f" — item: {json.dumps(item, ensure_ascii=False)}" if item is not None else ""
        parts.append(f"This is iteration {scope}{detail}.")
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
    if feedback is not None:
        parts.append(
            f"{FEEDBACK_HEADING}\nA person rejected the current version of {output}. Revise it:\n{feedback.strip()}"
        )
    template = plan.templates.get(step.template) if step.template else None
    parts.append(
        f"## Output: {output}\nReply with the complete document in Markdown, with these sections in order.\n"
        + "\n".join([OUTLINE_START, *outline_for(template, output, variables), OUTLINE_END])
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
