"""Layered folders, non-ASCII definitions, and structural checks built in tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bmad import compile_workflow, load_bmad


def agent_md(agent_id: str, name: str, role: str = "Test role") -> str:
    return textwrap.dedent(f"""\
        # {agent_id}

        ```yaml
        activation-instructions:
          - STEP 1: never part of a system message
        agent:
          name: {name}
          id: {agent_id}
          title: Test
        persona:
          role: {role}
        ```
        """)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_later_dir_overrides_an_agent_and_adds_definitions(tmp_path: Path) -> None:
    base, overlay = tmp_path / "base", tmp_path / "overlay"
    write(base, "agents/pm.md", agent_md("pm", "John", "Base PM"))
    write(base, "agents/dev.md", agent_md("dev", "James"))
    write(base, "tasks/create-doc.md", "# task\n")
    write(base, "workflows/w.yaml", """\
        workflow:
          id: w
          sequence:
            - agent: pm
              creates: prd.md
            - agent: qa
              requires: prd.md
              creates: review.md
        """)
    write(overlay, "agents/product.md", agent_md("pm", "Override", "Overlay PM"))
    write(overlay, "agents/qa.md", agent_md("qa", "Quinn"))
    write(overlay, "tasks/create-doc.md", "# overridden task\n")
    catalog = load_bmad([base, overlay])
    assert catalog.errors == []
    assert catalog.agents["pm"].name == "Override"
    assert catalog.agents["pm"].source.path == f"{overlay.as_posix()}/agents/product.md"
    assert set(catalog.agents) == {"pm", "dev", "qa"}
    assert catalog.tasks["create-doc.md"] == f"{overlay.as_posix()}/tasks/create-doc.md"
    plan = compile_workflow(catalog, "w")
    assert plan.agents["pm"].system_message == "You are Override, Test (pm).\nRole: Overlay PM\n"
    alone = load_bmad(base)  # without the overlay, qa is unknown
    assert [d.message.split(";")[0] for d in alone.errors] == ["unknown agent 'qa'"]


def test_non_ascii_ids_and_text(tmp_path: Path) -> None:
    write(tmp_path, "agents/análisis.md", agent_md("análisis", "Zoë", "Analista de requisitos ✓"))
    write(tmp_path, "workflows/diseño.yaml", """\
        workflow:
          id: flujo-diseño
          name: Diseño 🚀
          sequence:
            - agent: análisis
              creates: informe-ñ.md
              notes: "Guarda en docs/{feature-name}/ y {root}/data"
        """)
    catalog = load_bmad(tmp_path)
    assert catalog.errors == []
    plan = compile_workflow(catalog, "flujo-diseño")
    assert plan.name == "Diseño 🚀"
    assert plan.steps[0].id == "01-análisis-informe-ñ"
    assert plan.steps[0].notes == "Guarda en docs/{feature-name}/ y {root}/data"
    assert "You are Zoë, Test (análisis)." in plan.agents["análisis"].system_message
    assert plan.definition_hash == compile_workflow(load_bmad(tmp_path), "flujo-diseño").definition_hash


def test_structural_step_problems(tmp_path: Path) -> None:
    write(tmp_path, "agents/pm.md", agent_md("pm", "John"))
    write(tmp_path, "workflows/w.yaml", """\
        workflow:
          id: w
          sequence:
            - step: same
              agent: pm
            - step: same
              agent: pm
            - creates: orphan.md
            - just a string
            - workflow_end:
              action: done
        """)
    errors = [str(d) for d in load_bmad(tmp_path).errors]
    file = f"{tmp_path.as_posix()}/workflows/w.yaml"
    assert errors == [
        f"{file}:6:13: step name 'same' is already used at line 4; step names must be unique",
        f"{file}:8:16: step creates 'orphan.md' but names no agent to write it; add 'agent:'",
        f"{file}:9:7: a step must be a mapping (agent:, creates:, ...), not 'just a string'",
    ]


def test_unclosed_fence_and_missing_dir(tmp_path: Path) -> None:
    write(tmp_path, "agents/open.md", "# open\n\n```yaml\nagent:\n  id: open\n")
    catalog = load_bmad([tmp_path, tmp_path / "missing"])
    assert [str(d) for d in catalog.errors] == [
        f"{tmp_path.as_posix()}/agents/open.md:3:1: ```yaml block is never closed; add a closing ``` line",
        f"{(tmp_path / 'missing').as_posix()}: not a directory",
    ]
