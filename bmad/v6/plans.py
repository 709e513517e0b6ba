"""A v6 workflow compiled into a Plan: one agent step per `<step>` (or step file), the workflow's agent and
persona, the step's text as its task. A step with `<template-output>` (or a step file with `outputFile`) saves a
new version of the output document, named by its resolved path (`_bmad-output/planning-artifacts/prd.md`); the
first such step creates it, later ones update it. A step without one writes a report named for the step.
`if=` becomes a condition (a run input, default false), `optional="true"` an optional step a person is asked
to include (when one is asked), `for-each`/`repeat` a
repeat over a run input, `<invoke-workflow>` the other workflow's steps inlined after the step. A `<goto>` to
another step becomes a jump of the step (PlanStep.jumps) to that step's id among the same workflow's steps (an
inlined workflow's gotos stay within it); a jump into, out of or across a repeated step is not followed (a
warning): the engine moves between main-level steps only."""

from __future__ import annotations

import re
from pathlib import Path

from bmad.artifacts import slug
from bmad.diagnostics import Diagnostic
from bmad.plan import AgentSpec, Jump, Plan, PlanStep, RepeatBlock, SourceRef, TemplateSection, TemplateSpec
from bmad.v6.install import Install
from bmad.v6.workflows import ASSUMPTION_NOTE, HEADLESS_NOTE, RawStep, V6Workflow, _on_disk
from bmad.yamlsrc import read_text

MAX_INLINE_DEPTH = 4


def template_spec(install: Install, tid: str, file: Path, values: dict[str, str]) -> TemplateSpec:
    """A Markdown template's headings: `#` the title, `##` the sections, `###` their sub-sections."""
    text = read_text(file, install.shown(file))
    title, sections = "", []  # type: tuple[str, list[TemplateSection]]
    fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        m = re.match(r"^(#{1,3}) (.+?)\s*$", line)
        if fence or not m:
            continue
        level, head = len(m[1]), install.resolve(m[2], values) or m[2]
        if level == 1 and not title:
            title = head
        elif level == 2:
            sections.append(TemplateSection(id=slug(head) or f"section-{len(sections) + 1}", title=head))
        elif level == 3 and sections:
            sections[-1].sections.append(TemplateSection(id=slug(head) or "part", title=head))
    return TemplateSpec(id=tid, name=tid, title=title, output_format="markdown", sections=sections,
                        source=SourceRef(path=install.shown(file)))


class _Builder:
    def __init__(self, install: Install, agents: dict[str, AgentSpec], by_path: dict[str, V6Workflow],
                 problems: list[Diagnostic], prefix: bool = False):
        self.install, self.agents, self.by_path, self.problems = install, agents, by_path, problems
        self.prefix = prefix
        self.steps: list[PlanStep] = []
        self.templates: dict[str, TemplateSpec] = {}
        self.blocks: list[RepeatBlock] = []
        self.defaults: dict[str, object] = {}
        self.written: list[str] = []

    def add(self, wf: V6Workflow, depth: int = 0, optional: bool = False, requires: list[str] | None = None,
            condition: str | None = None) -> None:
        """`condition`: every step of `wf` runs only when it holds (a step's own `if=` wins)."""
        template = self._template(wf)
        saving = [s for s in wf.steps if s.saves or s.output]
        last = wf.steps[-1] if wf.steps else None
        compiled: list[tuple[RawStep, PlanStep]] = []
        for raw in wf.steps:
            output = raw.output or (wf.output if raw.saves or (not saving and raw is last) else None)
            step = self._step(wf, raw, output, template if output == wf.output else None, optional, requires,
                              condition)
            self.steps.append(step)
            compiled.append((raw, step))
            for target in raw.invokes:
                self._inline(wf, raw, target, depth)
        self._jumps(compiled)

    def _jumps(self, compiled: list[tuple[RawStep, PlanStep]]) -> None:
        """Each step's gotos, to the step of the same workflow they name (its first step of that number)."""
        numbered: dict[str, PlanStep] = {}
        for raw, step in compiled:
            numbered.setdefault(raw.n, step)
        for raw, step in compiled:
            for jump in raw.jumps:
                target = numbered[jump.step]
                span = self.steps[min(step.index, target.index): max(step.index, target.index) + 1]
                repeated = next((s for s in span if s.repeats), None)
                if repeated is not None:
                    self.problems.append(Diagnostic(raw.path, jump.line, 1, f"<goto step=\"{jump.step}\"> in step "
                                                    f"{raw.n} is not acted on: it would move into, out of or across "
                                                    f"the repeated step {repeated.id}", "warning"))
                    continue
                step.jumps.append(Jump(to=target.id, step=jump.step, condition=jump.condition, text=jump.text,
                                       source=SourceRef(path=raw.path, line=jump.line, col=1)))

    def _template(self, wf: V6Workflow) -> str | None:
        if wf.template is None or not wf.template.is_file():
            return None
        tid = f"{wf.id}-template"
        if tid not in self.templates:
            self.templates[tid] = template_spec(self.install, tid, wf.template, {})
        return tid

    def _step(self, wf: V6Workflow, raw: RawStep, output: str | None, template: str | None, optional: bool,
              requires: list[str] | None, condition: str | None = None) -> PlanStep:
        index = len(self.steps)
        base = f"{index + 1:02d}-{slug(raw.title)[:48].strip('-') or 'step'}"
        sid = f"{wf.id}.{base}" if self.prefix else base
        step = PlanStep(index=index, id=sid, agent=wf.agent, agents=[wf.agent] if wf.agent in self.agents else [],
                        action=f"{wf.id} — {raw.title}",
                        notes=f"{raw.body}\n\n{HEADLESS_NOTE if wf.headless else ASSUMPTION_NOTE}",
                        condition=raw.condition or condition, optional=raw.optional or optional,
                        ask_optional=raw.optional,
                        repeats=raw.repeat_input,
                        template=template, asks=list(raw.asks), headless=wf.headless,
                        source=SourceRef(path=raw.path, line=raw.line, col=1))
        step.requires = list(dict.fromkeys([*(requires or []), *self.written]))
        if output:
            if output in self.written:
                step.updates = output
            else:
                step.creates = step.creates_raw = output
                self.written.append(output)
        if raw.repeat_input:
            self.blocks.append(RepeatBlock(input_name=raw.repeat_input, start=index, end=index))
            self.defaults[raw.repeat_input] = raw.repeat_default
        if step.condition:
            self.defaults.setdefault(step.condition, False)
        return step

    def _inline(self, wf: V6Workflow, raw: RawStep, target: str, depth: int) -> None:
        path = _on_disk(self.install, target.replace("{installed_path}", wf.directory.as_posix()), wf.directory)
        other = self.by_path.get(self.install.shown(path))
        if other is None or depth >= MAX_INLINE_DEPTH:
            why = "it is not a workflow of this install" if other is None else f"deeper than {MAX_INLINE_DEPTH}"
            self.problems.append(Diagnostic(raw.path, raw.line, 1, f"<invoke-workflow> of {target} is not run: "
                                            f"{why}", "warning"))
            return
        self.add(other, depth + 1)


def compile_v6(install: Install, wf: V6Workflow, agents: dict[str, AgentSpec], by_path: dict[str, V6Workflow],
               problems: list[Diagnostic]) -> Plan:
    b = _Builder(install, agents, by_path, problems)
    b.add(wf)
    return seal(wf.id, wf.name, wf.description, b, SourceRef(path=wf.path))


def seal(wid: str, name: str, description: str, b: _Builder, source: SourceRef) -> Plan:
    used = sorted({a for s in b.steps for a in s.agents})
    conditions = sorted({s.condition for s in b.steps if s.condition})
    return Plan(workflow_id=wid, name=name, description=description, steps=b.steps,
                agents={a: b.agents[a] for a in used},
                templates={t: spec for t, spec in b.templates.items() if any(s.template == t for s in b.steps)},
                repeat_blocks=b.blocks, conditions=conditions, input_defaults=dict(b.defaults), source=source).seal()
