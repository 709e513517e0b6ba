"""Runs of the expansion packs' workflow forms: a named sequence chosen by id, phases with completion criteria
checked when the run ends, a top-level `steps:` list looping with `repeat_for`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from bmad import compile_workflow, load_bmad
from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import start_run
from store import Store
from store.types import RunView
from tests.bmad.test_bmad_forms import tale
from tests.conftest import BmadCorpus, running_worker, save_plan, subprocess_env


async def run_plan(time_env: Any, settings: Settings, store: Store, plan: Plan,
                   inputs: dict[str, object]) -> tuple[RunView, BaseException | None]:
    save_plan(store, plan)
    failure: BaseException | None = None
    run_id = uuid.uuid4().hex[:12]
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue,
                                 auto_approve=True, run_id=run_id)
        try:
            await handle.result()
        except WorkflowFailureError as err:
            failure = err
    run = store.get_run(run_id)
    assert run is not None
    return run, failure


def documents(run: RunView) -> list[str]:
    return sorted(a.name for a in run.artifacts)


def text(store: Store, run: RunView, name: str) -> str:
    art = next(a for a in run.artifacts if a.name == name)
    return store.read_artifact(art.id, art.sha256).decode()


async def test_phases_run_in_order_and_the_completion_criteria_are_checked_when_the_run_ends(
    tmp_path: Path, time_env, settings: Settings, store: Store
) -> None:
    plan = compile_workflow(load_bmad(tale(tmp_path)), "tale")
    run, failure = await run_plan(time_env, settings, store, plan, {"for_each_chapter": 2})
    assert failure is None and run.status == "completed"
    assert documents(run) == ["chapter-1/chapter.md", "chapter-1/notes.md", "chapter-2/chapter.md",
                              "chapter-2/notes.md", "completion-criteria.md", "outline.md", "summary.md"]
    check = next(s for s in run.steps if s.key == "completion-criteria")
    assert (check.status, check.agent, check.model) == ("completed", "botarmy", None)  # no model was asked
    assert text(store, run, "completion-criteria.md") == (
        "# Completion criteria\n\n- [x] summary.md exists\n- [x] notes.md exists\n"
        "- [ ] readers love it — not checked: only '<document> exists' is checked mechanically\n")


async def test_a_failed_completion_criterion_fails_the_run_naming_it(
    tmp_path: Path, time_env, settings: Settings, store: Store
) -> None:
    plan = compile_workflow(load_bmad(tale(tmp_path)), "tale")
    summary = next(s.id for s in plan.steps if s.output == "summary.md")
    run, failure = await run_plan(time_env, settings, store, plan, {"skip": [summary]})
    assert failure is not None
    assert run.status == "failed"
    assert run.error == "completion criterion 'summary.md exists' failed: no document summary.md was written"
    check = next(s for s in run.steps if s.key == "completion-criteria")
    assert (check.status, check.error) == ("failed", run.error)
    assert "completion-criteria.md" not in documents(run)


async def test_a_named_sequence_runs_by_its_id_and_an_unknown_one_is_refused_before_anything_runs(
    bmad_corpus: BmadCorpus, tmp_path: Path, time_env, settings: Settings, store: Store
) -> None:
    pack = bmad_corpus.expansion_packs / "bmad-2d-phaser-game-dev"
    catalog = load_bmad([bmad_corpus.core, pack])
    jam = compile_workflow(catalog, "game-prototype:game_jam_sequence")
    run, failure = await run_plan(time_env, settings, store, jam, {})
    assert failure is None and run.status == "completed"
    assert run.workflow_id == "game-prototype:game_jam_sequence"
    assert documents(run) == ["jam-concept.md", "working-prototype"]  # none of prototype_sequence's documents
    done = subprocess.run([sys.executable, "-m", "botarmy.cli", "run", "game-prototype:boss_rush_sequence",
                           "--auto-approve", "--bmad-dir", str(bmad_corpus.core), "--bmad-dir", str(pack)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=subprocess_env(TEMPORAL_ADDRESS="127.0.0.1:9",
                                             DATABASE_URL=f"sqlite:///{tmp_path}/never.db"))
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.endswith("game-prototype.yaml: workflow 'game-prototype' has no sequence 'boss_rush_sequence'; "
                         "its sequences: prototype_sequence, game_jam_sequence"), line
    assert "Traceback" not in done.stderr and not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("scenes", [3])
async def test_top_level_steps_loop_with_repeat_for_once_per_item(
    bmad_corpus: BmadCorpus, time_env, settings: Settings, store: Store, scenes: int
) -> None:
    catalog = load_bmad([bmad_corpus.core, bmad_corpus.expansion_packs / "bmad-creative-writing"])
    plan = compile_workflow(catalog, "novel-writing")
    run, failure = await run_plan(time_env, settings, store, plan,
                                  {"for_each_scene_list": scenes, "working_title": "The Long Tide"})
    assert failure is None and run.status == "completed"
    drafts = [n for n in documents(run) if n.endswith("raw_chapters.md")]
    assert drafts == [f"scene_list-{n}/raw_chapters.md" for n in range(1, scenes + 1)]
    assert {"outline.md", "scene_list.md", "final_manuscript.md"} <= set(documents(run))
    assert text(store, run, "completion-criteria.md") == "# Completion criteria\n\n- [x] final_manuscript.md exists\n"
