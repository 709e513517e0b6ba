"""The expansion packs' workflow forms (bmad/forms.py): named sequences, phases, a top-level `steps:` list."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmad import DefinitionError, compile_workflow, load_bmad
from tests.bmad.test_bmad_layers import agent_md, write
from tests.conftest import BmadCorpus

PHASES = """\
    workflow:
      id: tale
      name: A tale
      phases:
        plan:
          - agent: writer
            task: outline-it
            output: outline.md
        draft:
          - agent: writer
            input: outline.md
            repeat: per-chapter
            output: chapter.md
          - agent: editor
            input: chapter.md
            output: notes.md
        wrap:
          - agent: editor
            input: [outline.md, notes.md]
            output: summary.md
      completion_criteria:
        - summary.md exists
        - notes.md exists
        - readers love it
    """


def tale(root: Path, workflow: str = PHASES) -> Path:
    write(root, "agents/writer.md", agent_md("writer", "Wren"))
    write(root, "agents/editor.md", agent_md("editor", "Eda"))
    write(root, "tasks/outline-it.md", "# Outline it\n")
    write(root, "workflows/tale.yaml", workflow)
    return root


def test_phases_run_in_order_and_a_repeat_loops_to_the_end_of_its_phase(tmp_path: Path) -> None:
    catalog = load_bmad(tale(tmp_path))
    assert catalog.errors == []
    plan = compile_workflow(catalog, "tale")
    assert [(s.agent, s.output, s.requires) for s in plan.steps] == [
        ("writer", "outline.md", []), ("writer", "chapter.md", ["outline.md"]), ("editor", "notes.md", ["chapter.md"]),
        ("editor", "summary.md", ["outline.md", "notes.md"]), ("botarmy", "completion-criteria.md", []),
    ]
    assert plan.steps[0].uses == "outline-it"  # `task:` is the step's task, found among the loaded tasks
    assert [(b.input_name, b.start, b.end) for b in plan.repeat_blocks] == [("for_each_chapter", 1, 2)]
    assert plan.input_defaults == {"for_each_chapter": 1}
    assert plan.steps[-1].criteria == ["summary.md exists", "notes.md exists", "readers love it"]


def test_a_criterion_that_cannot_be_checked_is_a_warning_one_no_step_can_meet_an_error(tmp_path: Path) -> None:
    catalog = load_bmad(tale(tmp_path, PHASES.replace("- notes.md exists", "- epilogue.md exists")))
    path = f"{tmp_path.as_posix()}/workflows/tale.yaml"
    assert [str(d) for d in catalog.errors] == [
        f"{path}:23:7: completion criterion 'epilogue.md exists': no step writes epilogue.md, so every run would "
        "fail it; documents written: chapter.md, notes.md, outline.md, summary.md"]
    assert f"{path}:24:7: warning: completion criterion 'readers love it' cannot be checked mechanically (only " \
           "'<document> exists' is): the run's report lists it as not checked" in [str(d) for d in catalog.warnings]
    with pytest.raises(DefinitionError):
        compile_workflow(catalog, "tale")


def test_named_sequences_are_workflows_of_their_own_and_the_bare_id_runs_the_first(
    bmad_corpus: BmadCorpus,
) -> None:
    catalog = load_bmad([bmad_corpus.core, bmad_corpus.expansion_packs / "bmad-2d-phaser-game-dev"])
    said = [str(d) for d in catalog.diagnostics]
    assert len(said) == len(set(said))  # the first sequence is checked as two workflows, but said once
    ids = sorted(w for w in catalog.workflows if w.startswith("game-prototype"))
    assert ids == ["game-prototype", "game-prototype:game_jam_sequence", "game-prototype:prototype_sequence"]
    bare = compile_workflow(catalog, "game-prototype")
    first = compile_workflow(catalog, "game-prototype:prototype_sequence")
    assert [(s.id, s.output) for s in bare.steps] == [(s.id, s.output) for s in first.steps]
    jam = compile_workflow(catalog, "game-prototype:game_jam_sequence")
    assert [(s.id, s.kind, s.output) for s in jam.steps] == [
        ("jam_concept", "agent", "jam-concept.md"), ("jam_implementation", "agent", "working-prototype"),
        ("03-jam-workflow-end", "control", None)]
    story = compile_workflow(catalog, "game-prototype").steps[3]
    assert story.output == "prototype-stories.md"  # `creates: prototype-stories/`
    assert story.requires == ["prototype-spec.md", "prototype-architecture.md"]  # `a.md, b.md`
    with pytest.raises(DefinitionError) as unknown:
        compile_workflow(catalog, "game-prototype:boss_rush_sequence")
    source = catalog.workflows["game-prototype"].source.path
    assert str(unknown.value) == (f"{source}: workflow 'game-prototype' has no sequence "
                                  "'boss_rush_sequence'; its sequences: prototype_sequence, game_jam_sequence")


def test_an_error_in_one_named_sequence_does_not_stop_another_of_the_same_file(tmp_path: Path) -> None:
    write(tmp_path, "agents/writer.md", agent_md("writer", "Wren"))
    write(tmp_path, "workflows/two.yaml", """\
        workflow:
          id: two
          full_sequence:
            - agent: ghost
              creates: a.md
          short_sequence:
            - agent: writer
              creates: b.md
        """)
    catalog = load_bmad(tmp_path)
    with pytest.raises(DefinitionError, match="unknown agent 'ghost'"):
        compile_workflow(catalog, "two:full_sequence")
    assert [s.output for s in compile_workflow(catalog, "two:short_sequence").steps] == ["b.md"]


def test_a_named_sequence_of_a_pack_compiles(bmad_corpus: BmadCorpus) -> None:
    catalog = load_bmad([bmad_corpus.core, bmad_corpus.expansion_packs / "bmad-2d-phaser-game-dev"])
    plan = compile_workflow(catalog, "game-dev-greenfield:prototype_sequence")
    assert [s.output for s in plan.steps] == [None, "game-brief.md", "prototype-design.md", None]
    assert plan.steps[-1].id == "04-prototype-workflow-end" and plan.steps[-1].kind == "control"


def test_top_level_steps_name_documents_loop_with_repeat_for_and_must_write_their_outputs(
    bmad_corpus: BmadCorpus,
) -> None:
    catalog = load_bmad([bmad_corpus.core, bmad_corpus.expansion_packs / "bmad-creative-writing"])
    plan = compile_workflow(catalog, "novel-writing")
    assert plan.name == "Novel Writing Workflow"
    assert [s.id for s in plan.steps] == ["generate_outline", "develop_characters", "build_world", "scene_list",
                                          "draft", "dialogue_pass", "developmental_edit", "beta_read", "final_edit",
                                          "completion-criteria"]
    assert plan.steps[0].template == "story-outline-tmpl"  # uses: templates/story-outline-tmpl.yaml
    assert plan.steps[3].requires == ["outline.md", "character_profiles.md", "world_bible.md"]
    assert [(b.input_name, b.start, b.end) for b in plan.repeat_blocks] == [("for_each_scene_list", 4, 4)]
    assert plan.steps[-1].criteria == ["final_manuscript.md exists"]
    assert plan.input_defaults == {"working_title": "", "genre": "", "target_word_count": "",
                                   "for_each_scene_list": 1}
    series = compile_workflow(catalog, "series-planning")  # `repeat: num_installments`: that input is the count
    assert [(b.input_name, b.start, b.end) for b in series.repeat_blocks] == [("num_installments", 3, 3)]


def test_steps_form_agents_must_exist_and_a_bad_steps_value_is_not_called_v6(tmp_path: Path) -> None:
    write(tmp_path, "agents/writer.md", agent_md("writer", "Wren"))
    write(tmp_path, "workflows/ok.yaml", """\
        name: ok
        agents: [writer, ghost]
        steps:
          - id: one
            agent: writer
            outputs: page
        outputs: [page]
        """)
    write(tmp_path, "workflows/bad.yaml", "name: bad\nsteps: write it all\n")
    errors = [str(d) for d in load_bmad(tmp_path).errors]
    base = f"{tmp_path.as_posix()}/workflows"
    assert errors[0].startswith(f"{base}/bad.yaml:2:8: unsupported workflow dialect: top-level 'steps:' is "
                                "'write it all', not a list of steps")
    assert "v6" not in errors[0]
    assert errors[1].startswith(f"{base}/ok.yaml:2:18: unknown agent 'ghost' in 'agents'; known agents: writer")
    assert len(errors) == 2


def test_an_agent_named_by_its_file_resolves_to_the_agent_it_declares(bmad_corpus: BmadCorpus) -> None:
    catalog = load_bmad([bmad_corpus.core, bmad_corpus.expansion_packs / "bmad-godot-game-dev"])
    assert catalog.agent_id("game-pm") == "pm" and "game-pm" not in catalog.agents
    assert catalog.errors == []
    assert [d.message for d in catalog.warnings if "unknown agent" in d.message] == [
        "unknown agent 'game-dev': using 'game-developer' (the only agent of that name here)"] * 2
