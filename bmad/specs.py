"""AgentSpec and TemplateSpec for a Plan, built deterministically from loaded definitions."""

from __future__ import annotations

from bmad.artifacts import slug
from bmad.models import AgentDef, TemplateDef, TemplateSectionDef
from bmad.plan import AgentSpec, TemplateSection, TemplateSpec


def system_message(agent: AgentDef) -> str:
    """The agent's persona as a system message; activation instructions and IDE file rules are left out,
    because they describe an interactive IDE session, not a step of a run."""
    head = f"You are {agent.name or agent.id}"
    if agent.title:
        head += f", {agent.title}"
    lines = [f"{head} ({agent.id})."]
    persona = agent.persona
    for label, value in (("Role", persona.role), ("Style", persona.style), ("Identity", persona.identity),
                         ("Focus", persona.focus)):
        if value.strip():
            lines.append(f"{label}: {' '.join(value.split())}")
    if persona.core_principles:
        lines.append("Core principles:")
        lines.extend(f"- {' '.join(p.split())}" for p in persona.core_principles if p.strip())
    return "\n".join(lines) + "\n"


def agent_spec(agent: AgentDef) -> AgentSpec:
    return AgentSpec(id=agent.id, name=agent.name, title=agent.title, system_message=system_message(agent),
                     source=agent.source)


def _section(section: TemplateSectionDef) -> TemplateSection:
    return TemplateSection(
        id=section.id or slug(section.title) or "section",
        title=section.title,
        instruction=section.instruction.strip(),
        type=section.type,
        condition=section.condition,
        repeatable=section.repeatable,
        sections=[_section(s) for s in section.sections],
    )


def template_spec(template: TemplateDef) -> TemplateSpec:
    return TemplateSpec(
        id=template.id,
        name=template.name,
        output_filename=template.output.filename,
        output_format=template.output.format,
        title=template.output.title,
        sections=[_section(s) for s in template.sections],
        source=template.source,
    )
