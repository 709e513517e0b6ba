"""BMAD's instruction tag dialect (`instructions.md` / `.xml` of a 6.0 workflow.yaml), read as
`core/tasks/workflow.xml` defines it: `<step n goal optional if for-each repeat>` blocks run in numerical order,
each with its `<action>`, `<check if>`, `<ask>`, `<output>`, `<template-output>`, `<goto>`, `<invoke-workflow>`
and `<invoke-task>` tags. The files mix Markdown and tags and are not well-formed XML, so they are scanned,
not parsed: a step is the text between `<step …>` and `</step>`. A `<goto step="n">` / `<goto anchor="id">` is read
with its condition (the text of the innermost `<check if>` / `<action if>` around it) and its own text; `<anchor
id>` tags are kept with their step, so a goto can be resolved to the step that holds its anchor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_STEP = re.compile(r"<step\b([^>]*?)(/?)>(.*?)(?:</step>|(?=<step\b)|\Z)", re.S)
_ATTR = re.compile(r"([\w-]+)\s*=\s*\"([^\"]*)\"")
_TEMPLATE_OUTPUT = re.compile(r"<template-output\b([^>]*)>(.*?)</template-output>", re.S)
_GOTO = re.compile(r"<goto\b([^>]*?)(?:/>|>([^<]*)(?:</goto>)?)")
_ANCHOR = re.compile(r"<anchor\b([^>]*?)/?>")
# what can hold a goto: a conditional block (`<check if>`, `<action if>`) opened, or closed, or a goto itself
_NESTING = re.compile(r"<(/?)(check|action)\b([^>]*?)(/?)>|<goto\b")
_INVOKE_WORKFLOW = re.compile(r"<invoke-workflow\b([^>]*?)(?:/>|>(.*?)</invoke-workflow>)", re.S)
_INVOKE_TASK = re.compile(r"<invoke-task\b[^>]*>(.*?)</invoke-task>", re.S)
_ASK = re.compile(r"<ask\b[^>]*>(.*?)</ask>", re.S)
_PATH = re.compile(r"(\{[\w-]+\}[^\s\"'<>)]*\.(?:ya?ml|md|xml))")


@dataclass
class Tag:
    name: str
    line: int
    text: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Goto:
    """A `<goto>`: its target (`step` n or `anchor` id), the condition it is taken under and its own text."""

    kind: str  # step | anchor
    target: str
    line: int
    text: str = ""
    condition: str = ""  # the innermost enclosing `<check if>` / `<action if>`; empty when it is unconditional


@dataclass
class Step:
    n: str
    goal: str
    line: int
    body: str
    attrs: dict[str, str]
    template_outputs: list[Tag] = field(default_factory=list)
    gotos: list[Goto] = field(default_factory=list)
    anchors: list[Tag] = field(default_factory=list)  # `<anchor id>`: where a `<goto anchor>` lands
    invoke_workflows: list[Tag] = field(default_factory=list)
    invoke_tasks: list[Tag] = field(default_factory=list)
    asks: list[Tag] = field(default_factory=list)

    @property
    def order(self) -> float:
        try:
            return float(self.n)
        except ValueError:
            return float("inf")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _tags(pattern: re.Pattern[str], name: str, body: str, text: str, start: int, inner: int | None) -> list[Tag]:
    """Every match of a tag: group 1 its attributes, group `inner` its text."""
    return [Tag(name, _line(text, start + m.start()), " ".join((m.group(inner) or "").split()) if inner else "",
                dict(_ATTR.findall(m.group(1) or ""))) for m in pattern.finditer(body)]


def _conditions(body: str) -> dict[int, str]:
    """The condition around each `<goto>` of a step body, by its offset: the innermost open `<check if>` or
    `<action if>` (a tag without `if` opens a block too, so its closing tag pops the right one)."""
    stack: list[tuple[str, str]] = []  # (tag, its `if`)
    found: dict[int, str] = {}
    for m in _NESTING.finditer(body):
        closing, name, attrs, selfclosing = m.group(1), m.group(2), m.group(3), m.group(4)
        if name is None:  # a goto
            found[m.start()] = next((c for _, c in reversed(stack) if c), "")
        elif closing:
            opened = [n for n, (tag, _) in enumerate(stack) if tag == name]
            if opened:  # a stray closing tag closes nothing
                del stack[opened[-1]:]
        elif not selfclosing:
            stack.append((name, " ".join(dict(_ATTR.findall(attrs or "")).get("if", "").split())))
    return found


def _gotos(body: str, text: str, start: int) -> list[Goto]:
    conditions = _conditions(body)
    gotos = []
    for m in _GOTO.finditer(body):  # a `<goto` never closed by `>` is no goto (nor a crash)
        attrs = dict(_ATTR.findall(m.group(1) or ""))
        kind = "step" if "step" in attrs else "anchor"
        gotos.append(Goto(kind, attrs.get(kind, "?"), _line(text, start + m.start()),
                          " ".join((m.group(2) or "").split()), conditions.get(m.start(), "")))
    return gotos


def parse(text: str) -> list[Step]:
    """The steps of an instructions file in the order workflow.xml runs them (numerical; file order for ties)."""
    steps: list[Step] = []
    for m in _STEP.finditer(text):
        attrs = dict(_ATTR.findall(m.group(1)))
        body = m.group(3) if not m.group(2) else ""
        start = m.start(3)
        step = Step(n=attrs.get("n", str(len(steps) + 1)), goal=attrs.get("goal") or attrs.get("title") or "",
                    line=_line(text, m.start()), body=body.strip(), attrs=attrs)
        step.template_outputs = _tags(_TEMPLATE_OUTPUT, "template-output", body, text, start, 2)
        step.gotos = _gotos(body, text, start)
        step.anchors = _tags(_ANCHOR, "anchor", body, text, start, None)
        step.invoke_workflows = _tags(_INVOKE_WORKFLOW, "invoke-workflow", body, text, start, 2)
        step.invoke_tasks = [Tag("invoke-task", _line(text, start + t.start()), " ".join(t.group(1).split()))
                             for t in _INVOKE_TASK.finditer(body)]
        step.asks = [Tag("ask", _line(text, start + a.start()), " ".join(a.group(1).split()))
                     for a in _ASK.finditer(body)]
        steps.append(step)
    return sorted(steps, key=lambda s: s.order)


def workflow_path(tag: Tag) -> str | None:
    """The workflow an `<invoke-workflow>` names: its `path`/`workflow` attribute, else a path in its text."""
    for key in ("path", "workflow", "file"):
        if tag.attrs.get(key):
            return tag.attrs[key]
    found = _PATH.search(tag.text)
    return found[1] if found else None
