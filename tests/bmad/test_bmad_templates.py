"""The template renderer: golden outputs in every format, conditions, repeats, variables, strict mode.

Golden files live in tests/fixtures/templates/golden/; when a change to the output is intended, rewrite them
with `BOTARMY_WRITE_GOLDEN=1 pytest tests/bmad/test_bmad_templates.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bmad import load_bmad
from bmad.templates import TemplateError, load_template, render_template
from tests.conftest import ROOT, subprocess_env, upstream_core

FIXTURES = ROOT / "tests" / "fixtures" / "templates"
GOLDEN = FIXTURES / "golden"

BASIC_VARS: dict[str, Any] = {
    "project": {"name": "Todo", "owner": {"team": "Platform"}},
    "project-root": "/srv/todo",
    "goals": ["Ship the MVP", "Learn from users"],
    "functional": ["Add items", "Delete items"],
    "changelog": [{"Date": "2024-05-01", "Version": "1.0", "Description": "First draft | initial"}],
    "audience": "reviewers",
    "notes": "First paragraph.",
    "raw": "<script>alert('x')</script> & \"quotes\"",
}

REPEAT_VARS: dict[str, Any] = {
    "product": "Todo",
    "epics": [
        {"epic_number": 1, "epic_title": "Foundation", "epic_goal": "Set up the project.",
         "stories": [
             {"story_number": 1, "story_title": "Repository", "user_type": "developer", "action": "a repo",
              "acceptance_criteria": [{"criterion_number": 1, "criteria": "repo exists"},
                                      {"criterion_number": 2, "criteria": "CI runs"}]},
             {"story_number": 2, "story_title": "Health check", "user_type": "operator", "action": "a /health route",
              "acceptance_criteria": [{"criterion_number": 1, "criteria": "returns 200"}]},
         ]},
        {"epic_number": 2, "epic_title": "Items", "epic_goal": "Manage todo items.", "stories": []},
    ],
}

PRD_VARS: dict[str, Any] = {
    "project_name": "Todo",
    "goals": ["Ship the MVP"],
    "background": "People forget things.",
    "functional": ["Add items"],
    "non_functional": ["Stay within the free tier"],
    "judgements": {"PRD has UX/UI requirements": False},
    "epic_details": [
        {"epic_number": 1, "epic_title": "Foundation", "epic_goal": "Set up the project.",
         "stories": [{"story_number": 1, "story_title": "Repository", "user_type": "developer",
                      "action": "a repository", "benefit": "work can start",
                      "acceptance_criteria": [{"criterion_number": 1, "criteria": "repo exists"}]}]},
    ],
}


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BOTARMY_WRITE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["md", "html", "json", "yaml"])
def test_basic_template_renders_to_its_golden_file_in_each_format(fmt: str) -> None:
    golden(f"basic.{fmt}", render_template(FIXTURES / "basic-tmpl.yaml", BASIC_VARS, format=fmt))


def test_json_and_yaml_carry_the_same_document_structure() -> None:
    as_json = json.loads(render_template(FIXTURES / "basic-tmpl.yaml", BASIC_VARS, format="json"))
    as_yaml = YAML(typ="safe", pure=True).load(render_template(FIXTURES / "basic-tmpl.yaml", BASIC_VARS, format="yaml"))
    assert as_json == as_yaml
    assert as_json["title"] == "Todo Basic Document"
    assert [s["id"] for s in as_json["sections"]] == ["overview", "goals", "functional", "changelog", "notes"]
    assert as_json["sections"][4]["sections"][0]["content"].startswith("Raw: <script>")


def test_nested_and_hyphenated_variables_are_substituted() -> None:
    text = render_template(FIXTURES / "basic-tmpl.yaml", BASIC_VARS)
    assert "Todo is owned by Platform and lives in /srv/todo." in text


def test_single_braces_and_non_variable_double_braces_are_plain_text() -> None:
    text = render_template(FIXTURES / "basic-tmpl.yaml", BASIC_VARS)
    assert "Files go to docs/{feature-name}/ under {root}; pick one of {Monorepo|Polyrepo}." in text
    assert "Not a variable: {{ two words }}." in text


def test_unknown_variable_stays_visible_when_not_strict() -> None:
    text = render_template(FIXTURES / "basic-tmpl.yaml", {})
    assert "Budget: {{budget}}." in text
    assert "# {{project.name}} Basic Document" in text
    assert "{{project.name}} is owned by {{project.owner.team}} and lives in {{project-root}}." in text


def test_unknown_variable_in_strict_mode_names_the_variable_file_and_section() -> None:
    with pytest.raises(TemplateError) as info:
        render_template(FIXTURES / "basic-tmpl.yaml", BASIC_VARS, strict=True)
    path = (FIXTURES / "basic-tmpl.yaml").as_posix()
    assert str(info.value) == f"{path}: section 'overview': unknown variable 'budget'"


def test_strict_mode_names_a_missing_nested_variable_by_its_whole_path() -> None:
    variables = {**BASIC_VARS, "budget": 10, "project": {"name": "Todo"}}
    with pytest.raises(TemplateError, match=r"unknown variable 'project\.owner\.team'"):
        render_template(FIXTURES / "basic-tmpl.yaml", variables, strict=True)


def test_dict_methods_are_not_variables() -> None:
    variables = {**BASIC_VARS, "budget": "{{items}}"}  # a value is data: never substituted again
    assert "Budget: {{items}}." in render_template(FIXTURES / "basic-tmpl.yaml", variables)
    assert render_template(FIXTURES / "basic-tmpl.yaml", {"project": {}}).startswith("# {{project.name}}")


def test_html_escapes_text_from_variables_and_titles() -> None:
    page = render_template(FIXTURES / "basic-tmpl.yaml", BASIC_VARS, format="html")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert "<h3>Escaping &lt;b&gt;&amp;&lt;/b&gt;</h3>" in page


def test_conditions_by_variable_and_by_judgement() -> None:
    variables = {"has_ui": True, "project": {"has_api": False},
                 "judgements": {"PRD has UX/UI requirements": True,
                                "Project requires external API integrations": False}}
    golden("conditional.md", render_template(FIXTURES / "conditional-tmpl.yaml", variables))


def test_unjudged_condition_is_included_with_a_visible_note_and_unknown_variable_condition_is_left_out() -> None:
    text = render_template(FIXTURES / "conditional-tmpl.yaml", {})
    assert "## User Interface" not in text and "## API" not in text
    assert '> Note: Included without a judgement on "PRD has UX/UI requirements"' in text
    assert "## External APIs" in text


@pytest.mark.parametrize("variables, message", [
    ({}, "section 'ui': unknown variable 'has_ui' (the section's condition)"),
    ({"has_ui": False, "project": {"has_api": True}},
     "section 'ux': condition 'PRD has UX/UI requirements' has no judgement"),
])
def test_strict_mode_needs_every_condition_decided(variables: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_template(FIXTURES / "conditional-tmpl.yaml", variables, strict=True)
    assert message in str(info.value)


def test_repeatable_sections_render_once_per_item_with_item_fields() -> None:
    golden("repeat.md", render_template(FIXTURES / "repeat-tmpl.yaml", REPEAT_VARS, strict=True))


def test_repeatable_section_without_a_list_renders_once_or_fails_in_strict_mode() -> None:
    text = render_template(FIXTURES / "repeat-tmpl.yaml", {"product": "Todo"})
    assert "## Epic {{epic_number}}: {{epic_title}}" in text
    with pytest.raises(TemplateError, match="section 'epic': repeatable section needs a list variable: one of "
                                            "epic, epics"):
        render_template(FIXTURES / "repeat-tmpl.yaml", {"product": "Todo"}, strict=True)


def test_upstream_prd_template_renders_in_markdown() -> None:
    golden("upstream-prd.md", render_template(upstream_core() / "templates" / "prd-tmpl.yaml", PRD_VARS))


def test_every_upstream_template_renders_in_every_format_without_variables() -> None:
    catalog = load_bmad(upstream_core())
    assert len(catalog.templates) >= 10
    for template in catalog.templates.values():
        for fmt in ("md", "html", "json", "yaml"):
            assert render_template(template, {}, format=fmt).strip()


def test_parsed_templates_are_cached_by_content(tmp_path: Path) -> None:
    copy = tmp_path / "basic-tmpl.yaml"
    copy.write_bytes((FIXTURES / "basic-tmpl.yaml").read_bytes())
    first = load_template(copy)
    assert load_template(copy) is first
    copy.write_text(copy.read_text().replace("Basic Document", "Changed Document"))
    assert load_template(copy) is not first and load_template(copy).name == "Changed Document"


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(TemplateError, match="unknown format 'pdf'"):
        render_template(FIXTURES / "basic-tmpl.yaml", {}, format="pdf")


def botarmy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)


def test_cli_renders_a_template_by_stem_with_a_vars_file(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(PRD_VARS))
    done = botarmy("render", "prd-tmpl", "--vars", str(vars_file), "--bmad-dir", str(upstream_core()), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (GOLDEN / "upstream-prd.md").read_text(encoding="utf-8")


def test_cli_renders_a_template_path_as_yaml(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("product: Todo\nepics: []\n")
    done = botarmy("render", str(FIXTURES / "repeat-tmpl.yaml"), "--vars", str(vars_file), "--format", "yaml",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert YAML(typ="safe", pure=True).load(done.stdout) == {"title": "Todo Epics", "sections": []}


@pytest.mark.parametrize("args, message", [
    (["prd-tmpl", "--strict"], "prd-tmpl.yaml: output title: unknown variable 'project_name'"),
    (["no-such-tmpl"], "unknown template 'no-such-tmpl'; available templates: architecture-tmpl"),
    (["prd-tmpl", "--format", "pdf"], "--format 'pdf': use one of md, html, json, yaml"),
    (["prd-tmpl", "--vars", "missing.yaml"], "--vars missing.yaml: cannot read"),
    (["prd-tmpl", "--vars", "list.yaml"], "--vars list.yaml: must be a mapping"),
])
def test_cli_render_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    done = botarmy("render", *args, "--bmad-dir", str(upstream_core()), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
