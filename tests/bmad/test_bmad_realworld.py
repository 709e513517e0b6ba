"""Folders as people really have them: an installed upstream core, edited by hand, extended, translated, with an
expansion pack inside, or in an older v4 layout; and files of other dialects refused with a clear message.

Installed folders are built in tmp_path from the published bmad-method package (testkit/corpus.py) with the edits
made here, so no copy of upstream files is kept in the project; the dialect fixtures in tests/fixtures/realworld/
are our own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest

from bmad import Catalog, compile_workflow, load_bmad
from bmad.teams import check_team, pick_team, team_agents
from tests.conftest import ROOT, subprocess_env, upstream_core, upstream_corpus

DIALECTS = ROOT / "tests" / "fixtures" / "realworld" / "dialects"
V4 = ("BMAD v4 expects a top-level 'workflow:' mapping with 'id:' and a 'sequence:' list of steps "
      "(- agent: pm, creates: prd.md, ...)")


@cache
def upstream() -> Catalog:
    return load_bmad(upstream_core())


def installed(tmp_path: Path) -> Path:
    """An installed `.bmad-core`: the upstream core copied as the installer does (common/ merged in)."""
    return upstream_corpus().install(tmp_path / ".bmad-core")


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    file.write_text(text.replace(old, new), encoding="utf-8")


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def agent_md(agent_id: str, name: str, role: str, fence: str = "yaml") -> str:
    return f"# {agent_id}\n\n```{fence}\nagent:\n  name: {name}\n  id: {agent_id}\n  title: {role}\n" \
           f"persona:\n  role: {role}\n```\n"


def shape(catalog: Catalog, workflow_id: str) -> list[tuple[object, ...]]:
    plan = compile_workflow(catalog, workflow_id)
    return [(s.id, s.agent, s.output, tuple(s.requires), s.condition, s.template) for s in plan.steps]


def own_files(catalog: Catalog, core: Path) -> list[str]:
    return [str(d) for d in catalog.diagnostics if d.path.startswith(core.as_posix())]


def botarmy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=subprocess_env(COLUMNS="250"), timeout=120)


def test_installer_expanded_root_loads_and_compiles_like_upstream(tmp_path: Path) -> None:
    core = installed(tmp_path)
    for file in [*core.glob("agents/*.md"), *core.glob("workflows/*.yaml")]:
        file.write_text(file.read_text(encoding="utf-8").replace("{root}", ".bmad-core"), encoding="utf-8")
    assert not [f for f in core.rglob("*") if f.is_file() and "{root}" in f.read_text(encoding="utf-8")
                and f.parent.name in ("agents", "workflows")]
    catalog = load_bmad(core)
    assert catalog.errors == []
    for workflow_id in upstream().workflows:
        assert shape(catalog, workflow_id) == shape(upstream(), workflow_id)
    notes = [s.notes for s in compile_workflow(catalog, "greenfield-service").steps]
    assert any("Reference: .bmad-core/data/bmad-kb.md#IDE Development Workflow" in n for n in notes)
    assert catalog.agents["dev"].dependencies == upstream().agents["dev"].dependencies


def test_hand_edited_notes_and_teams_with_comments_whitespace_and_reordered_keys(tmp_path: Path) -> None:
    core = installed(tmp_path)
    wf = core / "workflows" / "greenfield-service.yaml"
    edit(wf, "  sequence:\n", "  sequence:     # edited by hand\n\n    # discovery first\n")
    edit(wf, "    - agent: pm\n      creates: prd.md\n      requires: project-brief.md\n",
         "    - requires:   project-brief.md    # from the brief\n      creates: prd.md\n      agent:    pm\n")
    edit(wf, '      notes: "Creates backend/service architecture using architecture-tmpl.',
         '      notes: |\n        Ask the team about   the database first.\n        Then: architecture.\n'
         '      x-old-notes: "Creates backend/service architecture using architecture-tmpl.')
    text = wf.read_text(encoding="utf-8")
    wf.write_text(re.sub(r"^(\s*- agent: \w+)$", r"\1   ", text, flags=re.M), encoding="utf-8")
    write(core, "agent-teams/team-no-ui.yaml", """\
        # our own team, edited by hand
        agents:
            - analyst      # discovery

            - pm
            - architect
        workflows: [ greenfield-service.yaml ]
        bundle:
            description:    Team with no UX or UI Planning.
            name: Team No UI
        """)
    catalog = load_bmad(core)
    assert catalog.errors == []
    def messages(c):
        return [d.message for d in c.warnings if d.path.endswith("greenfield-service.yaml")]

    added = [m for m in messages(catalog) if m not in messages(upstream())]
    assert added == ["key 'x-old-notes' in step is ignored by the engine"]  # the edit adds only that
    edited, pristine = shape(catalog, "greenfield-service"), shape(upstream(), "greenfield-service")
    assert edited == pristine
    steps = compile_workflow(catalog, "greenfield-service").steps
    assert steps[2].notes == "Ask the team about   the database first.\nThen: architecture."
    assert steps[1].notes == compile_workflow(upstream(), "greenfield-service").steps[1].notes
    assert catalog.teams["team-no-ui"].name == "Team No UI"
    assert team_agents(catalog, "team-no-ui") == ["analyst", "pm", "architect"]
    assert check_team(catalog, "team-no-ui", "greenfield-service") == (False, ["po", "sm", "dev", "qa"])


def test_own_agents_tasks_checklists_and_templates_beside_the_core(tmp_path: Path) -> None:
    core = installed(tmp_path)
    write(core, "agents/ops.md", agent_md("ops", "Olga", "Site Reliability Engineer"))
    write(core, "tasks/deploy.md", "# Deploy\n")
    write(core, "checklists/ops-checklist.md", "# Ops checklist\n- [ ] rollback tested\n")
    write(core, "templates/runbook-tmpl.yaml", """\
        template:
          id: runbook-template-v1
          name: Runbook
          version: 1.0
          output:
            format: markdown
            filename: docs/runbook.md
            title: "{{project_name}} Runbook"
        sections:
          - id: rollback
            title: Rollback
            instruction: How to roll back.
        """)
    write(core, "workflows/ops-release.yaml", """\
        workflow:
          id: ops-release
          name: Release with ops
          sequence:
            - agent: architect
              creates: architecture.md
            - agent: ops
              creates: runbook.md
              requires: architecture.md
            - agent: ops
              validates: runbook.md
              uses: ops-checklist
        """)
    catalog = load_bmad(core)
    assert catalog.errors == [] and own_files(catalog, core / "workflows" / "ops-release.yaml") == []
    plan = compile_workflow(catalog, "ops-release")
    assert [(s.agent, s.output, s.template) for s in plan.steps[:2]] == [
        ("architect", "architecture.md", "architecture-tmpl"), ("ops", "runbook.md", "runbook-tmpl")]
    assert plan.steps[2].validates == "runbook.md" and plan.steps[2].uses == "ops-checklist"
    assert "You are Olga, Site Reliability Engineer (ops)." in plan.agents["ops"].system_message
    assert catalog.template("runbook-template-v1") is catalog.templates["runbook-tmpl"]
    assert "deploy.md" in catalog.tasks and "create-doc.md" in catalog.tasks
    assert check_team(catalog, "team-all", "ops-release") == (True, [])
    assert shape(catalog, "greenfield-service") == shape(upstream(), "greenfield-service")


def test_expansion_packs_inside_the_core_folder_are_layered_after_it(tmp_path: Path) -> None:
    core = installed(tmp_path)
    pack = core / "expansion-packs" / "game-dev"
    write(pack, "agents/game-designer.md", agent_md("game-designer", "Alex", "Game Designer"))
    write(pack, "templates/game-design-doc-tmpl.yaml", """\
        template:
          id: game-design-doc-template-v2
          name: Game Design Document
          output: {format: markdown, filename: docs/game-design-doc.md, title: GDD}
        sections:
          - id: core-loop
            title: Core loop
        """)
    write(pack, "workflows/game-prototype.yaml", """\
        workflow:
          id: game-prototype
          name: Game prototype
          sequence:
            - agent: game-designer
              creates: game-design-doc.md
            - agent: architect
              creates: game-architecture.md
              requires: game-design-doc.md
        """)
    write(pack, "agent-teams/game-team.yaml", """\
        bundle:
          name: Game Team
        agents: [game-designer, architect]
        workflows: [game-prototype.yaml]
        """)
    write(core, "my-pack/workflows/broken.yaml", """\
        workflow:
          id: broken
          sequence:
            - agent: nobody
              creates: x.md
        """)
    catalog = load_bmad(core)
    assert set(upstream().workflows) | {"game-prototype", "broken"} == set(catalog.workflows)
    shown = catalog.workflows["game-prototype"].source.path
    assert shown == f"{core.as_posix()}/expansion-packs/game-dev/workflows/game-prototype.yaml"
    assert [f"{d.path}:{d.line}:{d.col}" for d in catalog.errors] == [
        f"{core.as_posix()}/my-pack/workflows/broken.yaml:4:14"]
    plan = compile_workflow(catalog, "game-prototype")
    assert [(s.agents, s.template) for s in plan.steps] == [(["game-designer"], "game-design-doc-tmpl"),
                                                            (["architect"], None)]
    assert plan.agents["architect"].name == upstream().agents["architect"].name  # the core agent
    assert check_team(catalog, "game-team", "game-prototype") == (True, [])
    assert pick_team(catalog, "game-prototype") == "game-team"
    assert shape(catalog, "greenfield-ui") == shape(upstream(), "greenfield-ui")


def test_translated_ids_names_and_notes_load_compile_and_show_in_plan(tmp_path: Path) -> None:
    core = installed(tmp_path)
    edit(core / "agents" / "pm.md", "  name: John\n", "  name: ヨハン\n")
    edit(core / "agents" / "pm.md", "  title: Product Manager\n", "  title: プロダクトマネージャー\n")
    write(core, "agents/pruefer.md", agent_md("prüfer", "Jürgen Groß", "Qualitätsprüfer"))
    write(core, "workflows/funktion.yaml", """\
        workflow:
          id: 機能開発
          name: 機能開発フロー — Überprüfung
          sequence:
            - agent: pm
              creates: anforderungen.md
              notes: "要件を docs/{feature-name}/ に保存します。{root} はそのまま。"
            - agent: prüfer
              creates: prüfbericht.md
              requires: anforderungen.md
              notes: Überprüft die Anforderungen gründlich.
        """)
    catalog = load_bmad(core)
    assert catalog.errors == []
    plan = compile_workflow(catalog, "機能開発")
    assert [s.id for s in plan.steps] == ["01-pm-anforderungen", "02-prüfer-prüfbericht"]
    assert plan.steps[0].notes == "要件を docs/{feature-name}/ に保存します。{root} はそのまま。"
    assert plan.agents["pm"].system_message.startswith("You are ヨハン, プロダクトマネージャー (pm).")
    assert plan.agents["prüfer"].name == "Jürgen Groß"
    done = botarmy("plan", "機能開発", "--bmad-dir", str(core), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for shown in ("機能開発 — 機能開発フロー — Überprüfung", "02-prüfer-prüfbericht", "prüfbericht.md", "prüfer"):
        assert shown in done.stdout
    as_json = json.loads(botarmy("plan", "機能開発", "--bmad-dir", str(core), "--format", "json",
                                 cwd=tmp_path).stdout)
    assert as_json["steps"][0]["notes"] == plan.steps[0].notes


def test_single_brace_placeholders_stay_text_in_notes_and_names(tmp_path: Path) -> None:
    core = installed(tmp_path)
    write(core, "workflows/feature.yaml", """\
        workflow:
          id: feature
          sequence:
            - agent: pm
              creates: prd.md
              notes: Save it in docs/{feature-name}/ next to {epic}.{story}-{slug}.yml
        """)
    catalog = load_bmad(core)
    assert catalog.errors == []
    step = compile_workflow(catalog, "feature").steps[0]
    assert step.notes == "Save it in docs/{feature-name}/ next to {epic}.{story}-{slug}.yml"
    assert step.template == "prd-tmpl"


OLDER_PM = """\
    # pm

    CRITICAL: Read the full YML, start activation to alter your state of being, follow startup section instructions:

    ```yml
    root: .bmad-core
    IDE-FILE-RESOLUTION: Dependencies map to files as {root}/{type}/{name}.md where root=".bmad-core"
    agent:
      icon: 📋
      whenToUse: Use for creating PRDs
      title: Product Manager
      id: pm
      name: John
      customization:

    persona:
      role: Investigative Product Strategist
      style: Analytical, pragmatic

    core_principles:
      - Deeply understand "Why"
      - Ruthless prioritization & MVP focus

    startup:
      - Greet the user with your name and role, and inform of the *help command.

    commands:  # All commands require * prefix when used (e.g., *help)
      - help: Show numbered list of the following commands to allow selection
      - create-prd: run task create-doc.md with template prd-tmpl.md

    dependencies:
      tasks:
        - create-doc
      templates:
        - prd-tmpl.md
      checklists:
        - pm-checklist
    ```
    """


def test_older_v4_agent_layout_and_markdown_template_names(tmp_path: Path) -> None:
    """Older v4 agents: a ```yml fence, `root:`, the `agent:` block first with its keys in another order,
    `core_principles` beside `persona`, `startup:`, dependencies without extensions and templates named
    `prd-tmpl.md` (as the 4.41 agents' REQUEST-RESOLUTION and tasks/validate-next-story.md still cite them)."""
    core = installed(tmp_path)
    (core / "agents" / "pm.md").write_text(textwrap.dedent(OLDER_PM), encoding="utf-8")
    write(core, "workflows/older.yaml", """\
        workflow:
          id: older
          sequence:
            - agent: pm
              creates: product-brief.md
              uses: prd-tmpl.md
            - agent: sm
              creates: story.md
              uses: story-tmpl.md
        """)
    catalog = load_bmad(core)
    assert catalog.errors == [] and own_files(catalog, core / "workflows" / "older.yaml") == []
    pm = catalog.agents["pm"]
    assert (pm.name, pm.title, pm.icon) == ("John", "Product Manager", "📋")
    assert pm.persona.core_principles == ['Deeply understand "Why"', "Ruthless prioritization & MVP focus"]
    assert pm.dependencies["templates"] == ["prd-tmpl.md"]
    assert catalog.template("prd-tmpl.md") is catalog.templates["prd-tmpl"]
    assert [s.template for s in compile_workflow(catalog, "older").steps] == ["prd-tmpl", "story-tmpl"]
    plan = compile_workflow(catalog, "greenfield-service")
    assert "Deeply understand" in plan.agents["pm"].system_message
    assert shape(catalog, "greenfield-service") == shape(upstream(), "greenfield-service")


DIALECT_ERRORS = [
    ("a-list.yaml:1:1", "the file is a list, not a mapping"),
    ("names-only.yaml:4:5", "no entry of 'sequence' is a step mapping"),
    ("phases.yaml:4:5", "'sequence' is a mapping"),
    ("research/workflow.yaml:1:1", "a folder per workflow (workflows/research/workflow.yaml) is BMAD v6"),
    ("v6-flat.yaml:4:1", "no top-level 'workflow:' mapping; 'config_source:', 'installed_path:', "
                         "'instructions:' are BMAD v6 keys"),
    ("v6-steps.yaml:5:3", "'workflow:' has 'instructions:', 'steps:' but no 'sequence:' (BMAD v6 style)"),
]


def test_other_dialects_are_each_refused_with_file_position_and_what_v4_expects() -> None:
    catalog = load_bmad(DIALECTS)
    errors = [str(d) for d in catalog.errors]
    assert len(errors) == len(DIALECT_ERRORS), errors
    for line, (where, what) in zip(errors, DIALECT_ERRORS, strict=True):
        assert line.startswith(f"{DIALECTS.as_posix()}/workflows/{where}: unsupported workflow dialect: {what}")
        assert "BMAD v4 expects" in line and "'sequence:' list of steps" in line
    assert compile_workflow(catalog, "good").steps[0].agent == "pm"  # the v4 file beside them still runs


def test_validate_refuses_other_dialects_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    done = botarmy("validate", "--bmad-dir", str(DIALECTS), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(DIALECT_ERRORS) and all("unsupported workflow dialect" in ln for ln in lines)
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["plan", "run"])
def test_plan_and_run_of_another_dialect_stop_before_anything_runs(tmp_path: Path, command: str) -> None:
    done = subprocess.run([sys.executable, "-m", "botarmy.cli", command, "v6-steps", "--bmad-dir", str(DIALECTS)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=subprocess_env(TEMPORAL_ADDRESS="127.0.0.1:9",
                                             DATABASE_URL=f"sqlite:///{tmp_path}/never.db"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{DIALECTS.as_posix()}/workflows/v6-steps.yaml:5:3: unsupported workflow dialect: 'workflow:' has "
        f"'instructions:', 'steps:' but no 'sequence:' (BMAD v6 style); {V4}"]
    assert list(tmp_path.iterdir()) == []
