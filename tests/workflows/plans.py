"""Plans built by hand, so interpreter tests do not depend on the compiler."""

from __future__ import annotations

from bmad.plan import AgentSpec, Jump, Plan, PlanStep, RepeatBlock, TemplateSection, TemplateSpec


def _agent(agent_id: str) -> AgentSpec:
    return AgentSpec(id=agent_id, name=agent_id.title(), system_message=f"You are the {agent_id}.")


def pipeline_plan(workflow_id: str = "test-pipeline") -> Plan:
    """analyst → pm → architect → [pm update if condition] → po (optional) → repeat(sm → dev) → end."""
    steps = [
        PlanStep(index=0, id="01-analyst-brief", agent="analyst", agents=["analyst"], creates="brief.md",
                 notes="Write the brief.", template="brief-tmpl"),
        PlanStep(index=1, id="02-pm-prd", agent="pm", agents=["pm"], creates="prd.md", requires=["brief.md"],
                 notes="Write the PRD."),
        PlanStep(index=2, id="03-architect-arch", agent="architect", agents=["architect"],
                 creates="architecture.md", requires=["prd.md"]),
        PlanStep(index=3, id="04-pm-update", agent="pm", agents=["pm"], updates="prd.md",
                 requires=["architecture.md"], condition="architecture_suggests_prd_changes"),
        PlanStep(index=4, id="05-po-validate", agent="po", agents=["po"], creates="po-validation.md",
                 requires=["all_artifacts"], optional=True),
        PlanStep(index=5, id="06-sm-story", agent="sm", agents=["sm"], creates="story.md",
                 requires=["prd.md"], repeats="for_each_epic"),
        PlanStep(index=6, id="07-dev-impl", agent="dev", agents=["dev"], creates="implementation.md",
                 requires=["story.md"]),
        PlanStep(index=7, id="repeat_development_cycle", kind="control", action="continue_for_all_stories"),
        PlanStep(index=8, id="workflow_end", kind="control", action="project_complete"),
    ]
    plan = Plan(
        workflow_id=workflow_id,
        name="Test pipeline",
        steps=steps,
        agents={a: _agent(a) for a in ["analyst", "pm", "architect", "po", "sm", "dev"]},
        templates={
            "brief-tmpl": TemplateSpec(
                id="brief-tmpl",
                title="Project Brief",
                sections=[
                    TemplateSection(id="summary", title="Executive Summary", instruction="Summarize the idea."),
                    TemplateSection(id="users", title="Target Users", instruction="Who uses it."),
                ],
            )
        },
        repeat_blocks=[RepeatBlock(input_name="for_each_epic", start=5, end=6)],
        conditions=["architecture_suggests_prd_changes"],
        input_defaults={"for_each_epic": 1, "architecture_suggests_prd_changes": False},
    )
    return plan.seal()


def single_step_plan(workflow_id: str = "test-single") -> Plan:
    return Plan(
        workflow_id=workflow_id,
        steps=[PlanStep(index=0, id="01-pm-prd", agent="pm", agents=["pm"], creates="prd.md")],
        agents={"pm": _agent("pm")},
    ).seal()


def three_step_plan(workflow_id: str = "test-three") -> Plan:
    """analyst → pm → architect, each reading what the step before wrote."""
    steps = [
        PlanStep(index=0, id="01-analyst-brief", agent="analyst", agents=["analyst"], creates="brief.md"),
        PlanStep(index=1, id="02-pm-prd", agent="pm", agents=["pm"], creates="prd.md", requires=["brief.md"]),
        PlanStep(index=2, id="03-architect-arch", agent="architect", agents=["architect"],
                 creates="architecture.md", requires=["prd.md"]),
    ]
    return Plan(workflow_id=workflow_id, steps=steps,
                agents={a: _agent(a) for a in ["analyst", "pm", "architect"]}).seal()


def loop_plan(steps_per_iteration: int = 1, before: int = 0, workflow_id: str = "test-loop") -> Plan:
    """`before` plain steps, then a loop (`for_each_chapter`) of `steps_per_iteration` scribe steps."""
    steps = [PlanStep(index=i, id=f"{i + 1:02d}-analyst", agent="analyst", agents=["analyst"],
                      creates=f"notes-{i + 1}.md") for i in range(before)]
    for k in range(steps_per_iteration):
        i = before + k
        steps.append(PlanStep(index=i, id=f"{i + 1:02d}-scribe", agent="scribe", agents=["scribe"],
                              creates="chapter.md" if k == 0 else f"chapter-part-{k + 1}.md",
                              repeats="for_each_chapter" if k == 0 else None))
    block = RepeatBlock(input_name="for_each_chapter", start=before, end=before + steps_per_iteration - 1)
    return Plan(workflow_id=workflow_id, steps=steps, agents={a: _agent(a) for a in ["analyst", "scribe"]},
                repeat_blocks=[block], input_defaults={"for_each_chapter": 1}).seal()


def goto_plan(workflow_id: str = "test-goto") -> Plan:
    """Five steps as a v6 instructions file with `<goto>`s compiles them: step 3 may go back to step 2 (another
    draft) or on to step 5 (nothing to check); step 1 may go on to step 3."""
    names = ["analyst-notes", "pm-draft", "pm-review", "qa-check", "pm-final"]
    steps = [PlanStep(index=i, id=f"{i + 1:02d}-{name}", agent=name.split("-")[0], agents=[name.split("-")[0]],
                      notes=f"Step {i + 1}.") for i, name in enumerate(names)]
    steps[0].jumps = [Jump(to="03-pm-review", step="3", condition="the notes exist already")]
    steps[2].jumps = [Jump(to="02-pm-draft", step="2", condition="the draft needs another pass", text="Redraft"),
                      Jump(to="05-pm-final", step="5", condition="nothing is left to check")]
    return Plan(workflow_id=workflow_id, steps=steps, agents={a: _agent(a) for a in ["analyst", "pm", "qa"]}).seal()


def optional_plan(workflow_id: str = "test-optional") -> Plan:
    """Three steps; the second is a v6 `optional="true"` step, which asks a person whether to include it."""
    plan = three_step_plan(workflow_id)
    steps = [s.model_copy(update={"optional": True, "ask_optional": True}) if s.index == 1 else s
             for s in plan.steps]
    return plan.model_copy(update={"steps": steps}).seal()
