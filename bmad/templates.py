"""Render a BMAD v4 YAML document template with variables, as Markdown, HTML, JSON or YAML.

The v4 format leaves much to an LLM author; these are the rules we apply, deterministically:

- Variables. `{{name}}`, `{{project.name}}` (a dotted name walks nested mappings, and list indexes:
  `{{epics.0.title}}`) and `{{project-name}}` are substituted by bmad.placeholders, a lookup in plain data.
  Any other `{{...}}` text, and single braces (`{root}`, `docs/{feature-name}/`, `{Monorepo|Polyrepo}`) are
  plain text: nothing in a template is ever evaluated (a template is data, not a program; one that asks for
  more, `{%` or `{{ call() }}`, is refused when it is loaded). An unknown variable is an error naming the
  variable, the template file and the section in strict mode; otherwise it stays visible as `{{name}}`.
  Variable values are data: they are never substituted themselves.
- Conditions. A section `condition:` that is an identifier, possibly dotted (`has_ui`, `project.api`), is a
  variable: truthy includes the section, falsy leaves it out, unknown leaves it out (an error in strict mode).
  Any other text (`PRD has UX/UI requirements`) is a judgement, looked up in the variable `judgements`
  (a mapping from that exact text to true/false): true includes, false leaves out, no verdict is an error in
  strict mode and otherwise includes the section with a visible note saying no judgement was given.
- Repeatable sections render once per item of the first list variable among the section id, its `_`
  spelling and their plurals (`epic` → `epic`, `epics`; `story` → `stories`), with the item's fields
  (or the item itself as `item`) as variables inside. With an `item_template`, the items are instead the
  lines of one section. No such list: an error in strict mode, else the section renders once.
- Content of a section: its `template:` text, then a variable named by the section id (or its `_` spelling)
  holding text or a list, shaped by `type`: `bullet-list`, `numbered-list` (with `prefix`: `- FR1: ...`),
  `table` (with `columns`). `instruction`, `examples`, `choices` and `elicit` guide an author; not rendered.
- Bounds. One rendering produces at most MAX_OUTPUT_CHARS characters and lays out at most MAX_REPEATS
  repeated sections, item lines and list items; past either it stops with a TemplateError saying which.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from bmad.artifacts import slug
from bmad.definitions import build_template
from bmad.diagnostics import DefinitionError
from bmad.models import TemplateDef, TemplateSectionDef
from bmad.placeholders import MAX_OUTPUT_CHARS, MAX_REPEATS, MISSING, Budget, OverBudget, UnknownVariable, lookup
from bmad.placeholders import substitute as substitute
from bmad.placeholders import text as _text
from bmad.yamlsrc import Located, YamlLoadError, load_yaml_text, read_text

FORMATS = ("md", "html", "json", "yaml")
_FORMAT_ALIASES = {"markdown": "md", "yml": "yaml", "htm": "html"}

_CONDITION_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)
__all__ = ["FORMATS", "MAX_OUTPUT_CHARS", "MAX_REPEATS", "TemplateError", "load_template", "render_document",
           "render_template", "substitute"]


class TemplateError(Exception):
    """A template that cannot be rendered as asked; the message names the file and the section."""


# -- loading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    digest: str  # sha256 of the content: the cache key, with the names shown in messages
    display: str
    stem: str
    text: str = field(compare=False, hash=False)


@lru_cache(maxsize=128)
def _parse(source: _Source) -> TemplateDef:
    try:
        doc = load_yaml_text(source.text, Located(source.display))
    except YamlLoadError as err:
        raise DefinitionError([err.diagnostic]) from None
    template, problems = build_template(doc, Located(source.display), source.stem)
    errors = [d for d in problems if d.severity == "error"]
    if template is None or errors:
        raise DefinitionError(errors)
    return template


def load_template(path: Path | str) -> TemplateDef:
    """Parse a template file; parsed templates are cached by the sha256 of their content."""
    file = Path(path)
    try:
        text = read_text(file, file.as_posix())
    except YamlLoadError as err:
        raise DefinitionError([err.diagnostic]) from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    return _parse(_Source(digest, file.as_posix(), file.stem, text))


# -- the rendered document -------------------------------------------------------------------------------


@dataclass
class RenderedSection:
    id: str
    title: str
    content: str = ""
    note: str = ""
    sections: list[RenderedSection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "title": self.title, "content": self.content}
        if self.note:
            body["note"] = self.note
        body["sections"] = [s.as_dict() for s in self.sections]
        return body


@dataclass
class RenderedDocument:
    title: str
    sections: list[RenderedSection]

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "sections": [s.as_dict() for s in self.sections]}


def _names(section_id: str) -> list[str]:
    """Variable names that hold a section's items or content: id, `_` spelling, and their plurals."""
    bases = list(dict.fromkeys([section_id, section_id.replace("-", "_")]))
    plurals = [b[:-1] + "ies" if b.endswith("y") and b[-2:-1] not in "aeiou" else b + "s" for b in bases]
    return list(dict.fromkeys(bases + plurals))


def _item_scope(scope: dict[str, Any], item: Any) -> dict[str, Any]:
    return {**scope, **item} if isinstance(item, dict) else {**scope, "item": item}


def _cell(item: Any, column: str, index: int) -> str:
    if isinstance(item, dict):
        for key in (column, column.lower(), slug(column, "_")):
            if key in item:
                return _text(item[key]).replace("|", "\\|").replace("\n", " ")
        return ""
    if isinstance(item, list | tuple):
        return _text(item[index]).replace("|", "\\|") if index < len(item) else ""
    return _text(item) if index == 0 else ""


def _shape(section: TemplateSectionDef, items: list[Any], numbered: bool = True) -> str:
    """List items laid out as the section's `type` says; `item_template` lines carry their own numbers."""
    if section.type == "table" and section.columns:
        columns = [_text(c) for c in section.columns]
        rows = [f"| {' | '.join(columns)} |", f"|{'|'.join(' --- ' for _ in columns)}|"]
        rows += [f"| {' | '.join(_cell(item, c, i) for i, c in enumerate(columns))} |" for item in items]
        return "\n".join(rows)
    if section.type == "numbered-list" and numbered:
        if section.prefix:
            return "\n".join(f"- {section.prefix}{n}: {_text(item)}" for n, item in enumerate(items, 1))
        return "\n".join(f"{n}. {_text(item)}" for n, item in enumerate(items, 1))
    if section.type == "paragraphs":
        return "\n\n".join(_text(item) for item in items)
    return "\n".join(f"- {_text(item)}" for item in items)


class _Renderer:
    def __init__(self, template: TemplateDef, strict: bool):
        self.template = template
        self.strict = strict
        self.budget = Budget()

    def fail(self, where: str, message: str) -> TemplateError:
        return TemplateError(f"{self.template.source.path}: {where}: {message}")

    def over(self, where: str, exc: OverBudget) -> TemplateError:
        return self.fail(where, f"{exc}; refusing it (render fewer items or split the document)")

    def sub(self, text: str, scope: dict[str, Any], where: str) -> str:
        try:
            return substitute(text, scope, self.strict, self.budget)
        except UnknownVariable as exc:
            raise self.fail(where, f"unknown variable '{exc.name}'") from None
        except OverBudget as exc:
            raise self.over(where, exc) from None

    def repeat(self, items: list[Any], where: str) -> list[Any]:
        try:
            self.budget.repeat(len(items))
        except OverBudget as exc:
            raise self.over(where, exc) from None
        return items

    def shaped(self, text: str, where: str) -> str:
        try:
            self.budget.charge(len(text))
        except OverBudget as exc:
            raise self.over(where, exc) from None
        return text

    def document(self, variables: dict[str, Any]) -> RenderedDocument:
        title = self.sub(self.template.output.title or self.template.name, variables, "output title")
        return RenderedDocument(title=title, sections=self.sections(self.template.sections, variables, []))

    def sections(self, defs: list[TemplateSectionDef], scope: dict[str, Any],
                 trail: list[str]) -> list[RenderedSection]:
        return [r for d in defs for r in self.section(d, scope, trail)]

    def section(self, d: TemplateSectionDef, scope: dict[str, Any], trail: list[str]) -> list[RenderedSection]:
        sid = d.id or slug(d.title) or "section"
        where = f"section '{'/'.join([*trail, sid])}'"
        included, note = self.condition(d, scope, where)
        if not included:
            return []
        if d.repeatable and not d.item_template:
            items = self.items(d, sid, scope, where)
            if items is not None:
                return [self.one(d, _item_scope(scope, item), [*trail, sid], f"{sid}-{n}", note)
                        for n, item in enumerate(self.repeat(items, where), 1)]
        return [self.one(d, scope, [*trail, sid], sid, note)]

    def condition(self, d: TemplateSectionDef, scope: dict[str, Any], where: str) -> tuple[bool, str]:
        text = (d.condition or "").strip()
        if not text:
            return True, ""
        if _CONDITION_NAME.fullmatch(text):
            value = lookup(text, scope)
            if value is MISSING:
                if self.strict:
                    raise self.fail(where, f"unknown variable '{text}' (the section's condition)")
                return False, ""
            return bool(value), ""
        judgements = scope.get("judgements")
        verdict = judgements.get(text) if isinstance(judgements, dict) else None
        if verdict is None:
            if self.strict:
                raise self.fail(where, f"condition '{text}' has no judgement; set judgements: {{{json.dumps(text)}: "
                                       "true} (or false) in the variables")
            return True, f'Included without a judgement on "{text}"; set judgements["{text}"] to true or false.'
        return bool(verdict), ""

    def items(self, d: TemplateSectionDef, sid: str, scope: dict[str, Any], where: str) -> list[Any] | None:
        for name in _names(sid):
            if isinstance(scope.get(name), list):
                return scope[name]
        if self.strict:
            raise self.fail(where, f"repeatable section needs a list variable: one of {', '.join(_names(sid))}")
        return None

    def one(self, d: TemplateSectionDef, scope: dict[str, Any], trail: list[str], rid: str,
            note: str) -> RenderedSection:
        where = f"section '{'/'.join(trail)}'"
        parts = [self.sub(d.template, scope, where).strip("\n")] if d.template else []
        parts.append(self.body(d, trail[-1], scope, where))
        return RenderedSection(
            id=rid,
            title=self.sub(d.title, scope, where),
            content="\n\n".join(p for p in parts if p.strip()),
            note=note,
            sections=self.sections(d.sections, scope, trail),
        )

    def body(self, d: TemplateSectionDef, sid: str, scope: dict[str, Any], where: str) -> str:
        if d.item_template:
            items = self.items(d, sid, scope, where)
            scopes = [scope] if items is None else [_item_scope(scope, item) for item in self.repeat(items, where)]
            lines = [self.sub(d.item_template, s, where) for s in scopes]
            return self.shaped(_shape(d, lines, numbered=False), where)
        if d.repeatable:
            return ""
        for name in _names(sid)[:2]:
            value = scope.get(name)
            if isinstance(value, str):
                return value.strip("\n")
            if isinstance(value, list):
                return self.shaped(_shape(d, self.repeat(value, where)), where)
        return ""


def render_document(template: TemplateDef, variables: dict[str, Any], strict: bool = False) -> RenderedDocument:
    """The rendered structure of a template: title and nested sections with their content.

    Raises TemplateError when it cannot be rendered as asked, or would pass MAX_OUTPUT_CHARS or MAX_REPEATS.
    """
    try:
        return _Renderer(template, strict).document(variables)
    except RecursionError:  # only reachable with self-referential variables given from Python
        raise TemplateError(f"{template.source.path}: the variables nest too deeply (or contain themselves)") \
            from None


# -- output formats --------------------------------------------------------------------------------------


def _markdown(doc: RenderedDocument) -> str:
    blocks = [f"# {doc.title}"] if doc.title else []

    def walk(sections: list[RenderedSection], depth: int) -> None:
        for s in sections:
            if s.title:
                blocks.append(f"{'#' * min(depth, 6)} {s.title}")
            if s.note:
                blocks.append(f"> Note: {s.note}")
            if s.content:
                blocks.append(s.content)
            walk(s.sections, depth + 1)

    walk(doc.sections, 2)
    return "\n\n".join(blocks) + "\n"


def _html_table(lines: list[str]) -> str:
    def cells(line: str, tag: str) -> str:
        parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        return "<tr>" + "".join(f"<{tag}>{html.escape(p.strip().replace(chr(92) + '|', '|'))}</{tag}>"
                                for p in parts) + "</tr>"

    return "<table>" + cells(lines[0], "th") + "".join(cells(line, "td") for line in lines[2:]) + "</table>"


def _html_blocks(content: str) -> list[str]:
    out: list[str] = []
    for block in re.split(r"\n\s*\n", content.strip()):
        lines = block.splitlines()
        if len(lines) >= 2 and all(line.startswith("|") for line in lines) and set(lines[1]) <= set("|- :"):
            out.append(_html_table(lines))
        elif all(line.startswith("- ") for line in lines):
            out.append("<ul>" + "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines) + "</ul>")
        elif all(re.match(r"\d+\. ", line) for line in lines):
            out.append("<ol>" + "".join(f"<li>{html.escape(line.split('. ', 1)[1])}</li>" for line in lines)
                       + "</ol>")
        else:
            out.append("<p>" + "<br>\n".join(html.escape(line) for line in lines) + "</p>")
    return out


def _html(doc: RenderedDocument) -> str:
    lines = ["<article>"]
    if doc.title:
        lines.append(f"<h1>{html.escape(doc.title)}</h1>")

    def walk(sections: list[RenderedSection], depth: int) -> None:
        for s in sections:
            lines.append(f'<section id="{html.escape(s.id)}">')
            if s.title:
                level = min(depth, 6)
                lines.append(f"<h{level}>{html.escape(s.title)}</h{level}>")
            if s.note:
                lines.append(f'<p class="note">{html.escape(s.note)}</p>')
            if s.content:
                lines.extend(_html_blocks(s.content))
            walk(s.sections, depth + 1)
            lines.append("</section>")

    walk(doc.sections, 2)
    lines.append("</article>")
    return "\n".join(lines) + "\n"


def _json(doc: RenderedDocument) -> str:
    return json.dumps(doc.as_dict(), indent=2, ensure_ascii=False) + "\n"


def _literal_blocks(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _literal_blocks(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal_blocks(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def _yaml(doc: RenderedDocument) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(_literal_blocks(doc.as_dict()), buffer)
    return buffer.getvalue()


_WRITERS: dict[str, Callable[[RenderedDocument], str]] = {"md": _markdown, "html": _html, "json": _json,
                                                          "yaml": _yaml}


def render_template(template: TemplateDef | Path | str, variables: dict[str, Any], format: str = "md",
                    strict: bool = False) -> str:
    """Render `template` (a loaded TemplateDef or a template file) as md, html, json or yaml.

    Raises TemplateError when it cannot be rendered as asked, DefinitionError when the file is not a template.
    """
    fmt = _FORMAT_ALIASES.get(format.lower(), format.lower())
    if fmt not in _WRITERS:
        raise TemplateError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if not isinstance(variables, dict):
        raise TemplateError(f"variables must be a mapping, not {type(variables).__name__}")
    loaded = template if isinstance(template, TemplateDef) else load_template(template)
    return _WRITERS[fmt](render_document(loaded, variables, strict))
