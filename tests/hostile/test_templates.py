"""Hostile templates: a template is data. Statements and expressions never run, whatever their delimiters, and
are refused where they are written; rendering is bounded in output and in repeats.

Anything that could run away on a regression (loops, a 1.5 GB string) runs in a subprocess with a timeout and
an address-space limit, so a regression fails the test instead of taking the machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bmad import DefinitionError, load_bmad
from bmad.models import TemplateDef, TemplateSectionDef
from bmad.placeholders import MAX_OUTPUT_CHARS, MAX_REPEATS
from bmad.plan import SourceRef
from bmad.templates import TemplateError, load_template, render_template, substitute
from tests.conftest import ROOT, subprocess_env, upstream_corpus

# YAML "\0" escapes: NUL bytes around `{% %}`; each text has a placeholder, so that it is substituted at all
NUL_LOOP = r"R[\0{% for x in range(3) %}\0X\0{% endfor %}\0] for {{who}}"
NESTED_LOOPS = (r"\0{% for a in range(100000) %}\0\0{% for b in range(100000) %}\0x\0{% endfor %}\0\0{% endfor %}\0"
                r" for {{who}}")
BIG_SET = r"\0{% set s = 'a' * 1500000000 %}\0{{ s }}"
MEMORY_LIMIT = 2 * 1024**3


def template_file(folder: Path, title: str, body: str = "plain text", stem: str = "hostile-tmpl") -> Path:
    """A template whose output title (line 8) is the double-quoted YAML `title` and whose first section's
    `template:` block (from line 12) is `body`."""
    file = folder / f"{stem}.yaml"
    file.write_text(
        "template:\n  id: hostile-template-v1\n  name: Hostile\n  version: 1.0\n  output:\n    format: markdown\n"
        f"    filename: docs/hostile.md\n    title: \"{title}\"\nsections:\n  - id: intro\n    title: Intro\n"
        f"    template: |\n{textwrap.indent(body, '      ')}\n",
        encoding="utf-8",
    )
    return file


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter with at most 2 GB of address space and 60 s."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=subprocess_env(), capture_output=True,
                          text=True, timeout=60, preexec_fn=limited)


def botarmy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=60, preexec_fn=limited)


def test_a_nul_delimited_loop_is_refused_when_the_template_is_loaded_naming_file_and_line(tmp_path: Path) -> None:
    file = template_file(tmp_path, NUL_LOOP)
    with pytest.raises(DefinitionError) as caught:
        load_template(file)
    found = [(d.path, d.line, d.message) for d in caught.value.diagnostics]
    assert [(path, line) for path, line, _ in found] == [(file.as_posix(), 8)] * 2
    assert sorted(message.split(" is ")[0] for _, _, message in found) == ["'{% endfor %}'",
                                                                         "'{% for x in range(3) %}'"]
    assert "is a template statement; templates are data" in found[0][2]


def test_a_statement_in_a_block_is_refused_at_its_own_line_and_column(tmp_path: Path) -> None:
    file = template_file(tmp_path, "Fine", "first line {{ok}}\nthen {% if true %}yes{% endif %}\n")
    with pytest.raises(DefinitionError) as caught:
        load_template(file)
    assert [(d.line, d.col) for d in caught.value.diagnostics] == [(14, 12), (14, 28)]


@pytest.mark.parametrize("placeholder", ["{{ range(3) }}", "{{ 'a' * 3 }}", "{{ x[0] }}", "{{ x.y() }}",
                                         "{{ ''|attr('x') }}", "{{ a ~ b }}", "{{ a == b }}",
                                         "{{{name}}}", "{{ \\u0000x }}"])
def test_a_placeholder_holding_an_expression_is_refused(tmp_path: Path, placeholder: str) -> None:
    file = template_file(tmp_path, f"Title {placeholder}")
    with pytest.raises(DefinitionError, match=r"is not a placeholder: write \{\{name\}\}") as caught:
        load_template(file)
    assert caught.value.diagnostics[0].line == 8


def test_the_loader_reports_the_refusal_for_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    file = template_file(tmp_path / "templates", NUL_LOOP)
    catalog = load_bmad(tmp_path)
    assert [(d.path, d.line) for d in catalog.errors] == [(file.as_posix(), 8)] * 2


def test_bmad_placeholders_and_prompts_are_not_refused() -> None:
    """What BMAD templates really write: names, and prompts for the author such as {{high|med|low}}."""
    corpus = upstream_corpus()
    folders = [corpus.core, *(p for p in sorted(corpus.expansion_packs.iterdir()) if (p / "templates").is_dir())]
    loaded = 0
    for folder in folders:
        catalog = load_bmad(folder)
        loaded += len(catalog.templates)
        refused = [str(d) for d in catalog.errors if "placeholder" in d.message or "statement" in d.message]
        assert refused == [], folder
    assert loaded >= 40


def test_statements_and_expressions_render_as_the_text_they_are() -> None:
    """Rendering never evaluates anything, even for a template that bypassed loading (built in Python)."""
    texts = [t.replace("\\0", "\0") for t in (NUL_LOOP, NESTED_LOOPS, BIG_SET)]
    code = f"""
import json
from bmad.models import TemplateDef, TemplateSectionDef
from bmad.plan import SourceRef
from bmad.templates import render_template, substitute
texts = json.loads({json.dumps(texts)!r})
section = TemplateSectionDef(id="s", title="S", template="\\n".join(texts))
template = TemplateDef(id="t", name="T", sections=[section], source=SourceRef(path="t.yaml"))
print(json.dumps([substitute(t, {{"who": "me"}}) for t in texts] + [render_template(template, {{}}, "json")]))
"""
    done = python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    *substituted, rendered = json.loads(done.stdout)
    assert substituted[0] != "R[XXX] for me"
    as_text = [t.replace("{{who}}", "me").replace("{{ s }}", "{{s}}") for t in texts]  # an unknown name shows
    assert substituted == as_text
    content = json.loads(rendered)["sections"][0]["content"]
    assert content == "\n".join(t.replace("{{ s }}", "{{s}}") for t in texts)


@pytest.mark.parametrize("title", [NESTED_LOOPS, BIG_SET], ids=["nested-loops", "big-set"])
def test_botarmy_render_refuses_runaway_templates_with_one_line_and_exit_2(tmp_path: Path, title: str) -> None:
    file = template_file(tmp_path, title)
    done = botarmy("render", str(file), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{file.as_posix()}:8:" in lines[0] and "template statement" in lines[0]


def test_values_are_data_and_lookups_walk_only_keys_and_indexes() -> None:
    variables: dict[str, Any] = {"epics": [{"title": "First"}, {"title": "Second"}], "project": {"name": "Todo"},
                                 "evil": "{{project.name}}"}
    assert substitute("{{epics.1.title}} / {{ epics.0.title }}", variables) == "Second / First"
    assert substitute("{{evil}}", variables) == "{{project.name}}"
    assert substitute("{{project.__class__}} {{project.items}} {{epics.9}}", variables) == \
        "{{project.__class__}} {{project.items}} {{epics.9}}"


def repeated(item_template: str | None = None, sections: list[TemplateSectionDef] | None = None,
             sid: str = "row") -> TemplateSectionDef:
    return TemplateSectionDef(id=sid, title=sid, repeatable=True, item_template=item_template,
                              sections=sections or [])


def bounded_template(*sections: TemplateSectionDef) -> TemplateDef:
    return TemplateDef(id="b", name="B", source=SourceRef(path="b.yaml"), sections=list(sections))


def test_rendering_stops_past_its_output_bound() -> None:
    big = "x" * (MAX_OUTPUT_CHARS // 4 + 1)
    with pytest.raises(TemplateError, match=rf"^b\.yaml: section 'row': the rendered output would exceed "
                                            rf"{MAX_OUTPUT_CHARS} characters; refusing it"):
        render_template(bounded_template(repeated("{{big}}{{big}}{{big}}{{big}}")), {"big": big, "rows": [1]})


def test_rendering_stops_past_its_repeat_bound() -> None:
    rows = [{"n": i} for i in range(MAX_REPEATS + 1)]
    with pytest.raises(TemplateError, match=rf"more than {MAX_REPEATS} repeated sections and list items"):
        render_template(bounded_template(repeated("{{n}}")), {"rows": rows})
    square = [{"cells": [{"n": j} for j in range(200)]} for _ in range(200)]  # 200 x 200 = 40 000 cells
    with pytest.raises(TemplateError, match=r"section 'row/cell': .* repeated sections"):
        render_template(bounded_template(repeated(sections=[repeated("{{n}}", sid="cell")])), {"rows": square})
    assert render_template(bounded_template(repeated("{{n}}")), {"rows": rows[:MAX_REPEATS]}).count("\n- ") \
        == MAX_REPEATS
