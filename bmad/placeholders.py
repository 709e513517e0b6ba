"""`{{name}}` placeholders: the whole template language, which is data, never code.

`{{name}}` and `{{ a.b.c }}` (parts of letters, digits, `_` and `-`; a part after the first may be a list
index, `items.0`) look a value up in plain dict/list variables and put its text in place; nothing else is
evaluated. BMAD authors also write prompts for the person or model filling the document in, `{{high|med|low}}`
or `{{ two words }}`: those are prose and stay as they are. Anything that asks for more (`{%` statements, or
a `{{ }}` holding calls, quotes, brackets or operators) is refused when a template is validated
(`problems`), and is never evaluated either way. Values are data: a value that contains `{{x}}` is not
substituted again.

Substitution is bounded: every character it produces is charged to a `Budget`, which raises `OverBudget`
before the output grows past its limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_OUTPUT_CHARS = 4_000_000  # characters one rendering may produce, in all
MAX_REPEATS = 10_000  # section instances, item lines and list items one rendering may lay out, in all

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
NAME = re.compile(r"[A-Za-z_][\w-]*(?:\.(?:[A-Za-z_][\w-]*|\d+))*", re.ASCII)
# what a BMAD prompt placeholder holds: words, spaces and a little punctuation (`{{Forward+|Mobile}}`, `{{C#}}`)
_PROSE = re.compile(r"[\w .+#/|-]+")
_STATEMENT = re.compile(r"\{%.*?(?:%\}|$)", re.MULTILINE)  # `{%` up to its `%}` or the end of its line
MISSING: Any = object()


class UnknownVariable(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class OverBudget(Exception):
    """A rendering that would produce more than its budget allows; the message says which limit."""


@dataclass
class Budget:
    """What one rendering may still produce: characters of output and repeated items."""

    chars: int = MAX_OUTPUT_CHARS
    repeats: int = MAX_REPEATS

    def charge(self, chars: int) -> None:
        self.chars -= chars
        if self.chars < 0:
            raise OverBudget(f"the rendered output would exceed {MAX_OUTPUT_CHARS} characters")

    def repeat(self, count: int) -> None:
        self.repeats -= count
        if self.repeats < 0:
            raise OverBudget(f"the rendering would lay out more than {MAX_REPEATS} repeated sections and list items")


def lookup(name: str, variables: Any) -> Any:
    """The value at dotted `name` in plain dict/list data, or MISSING. Only keys and list indexes are walked."""
    value = variables
    for part in name.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return MISSING if callable(value) else value


def text(value: Any) -> str:
    """A variable's value as document text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def substitute(source: str, variables: dict[str, Any], strict: bool = False, budget: Budget | None = None) -> str:
    """`source` with its `{{name}}` placeholders replaced by their values.

    An unknown name stays visible as `{{name}}`, or raises UnknownVariable when `strict`. Raises OverBudget
    when the result would pass what `budget` (by default a fresh one) still allows.
    """
    spend = budget or Budget()
    spend.charge(len(source))  # the text around the placeholders, and the placeholders as a bound from above
    if "{{" not in source:
        return source

    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if not NAME.fullmatch(name):
            return match.group(0)
        value = lookup(name, variables)
        if value is MISSING:
            if strict:
                raise UnknownVariable(name)
            return "{{" + name + "}}"
        shown = text(value)
        spend.charge(len(shown))
        return shown

    return PLACEHOLDER.sub(one, source)


def variable_names(source: str) -> list[str]:
    """The variables `substitute` looks up in `source`, by their first part (`{{project.name}}` → project)."""
    names = (m.group(1).strip() for m in PLACEHOLDER.finditer(source))
    return list(dict.fromkeys(n.split(".")[0] for n in names if NAME.fullmatch(n)))


def problems(source: str) -> list[tuple[int, str]]:
    """(offset, message) for each part of `source` that asks a template for more than substitution."""
    found: list[tuple[int, str]] = []
    for match in _STATEMENT.finditer(source):
        found.append((match.start(), f"'{_shown(match.group(0))}' is a template statement; templates are data "
                                     "and have none (only {{name}} placeholders are filled in); remove it"))
    for match in PLACEHOLDER.finditer(source):
        inner = match.group(1).strip()
        if inner and not NAME.fullmatch(inner) and not _PROSE.fullmatch(inner):
            found.append((match.start(), f"'{_shown(match.group(0))}' is not a placeholder: write {{{{name}}}} or "
                                         "{{a.b.c}} (letters, digits, '_', '-'); expressions, calls, quotes and "
                                         "brackets are never evaluated"))
    return sorted(found)


def _shown(text: str, limit: int = 60) -> str:
    """`text` as one printable line (control characters such as NUL escaped), shortened to `limit`."""
    escaped = json.dumps(text, ensure_ascii=False)[1:-1]
    return escaped if len(escaped) <= limit else escaped[:limit - 3] + "..."
