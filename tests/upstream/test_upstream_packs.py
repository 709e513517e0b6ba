"""Every workflow of every upstream v4 expansion pack, layered on its installed core: validated, planned and run to
completion offline (auto-approve) on the time-skipping server, with every document its steps write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bmad import Catalog, compile_workflow, load_bmad
from botarmy.settings import Settings
from botarmy.temporal import start_run
from store import Store
from tests.conftest import BmadCorpus, running_worker, save_plan, subprocess_env
from tests.upstream.test_upstream_runs import expected_outputs, run_inputs

PACKS = ("bmad-2d-phaser-game-dev", "bmad-2d-unity-game-dev", "bmad-creative-writing", "bmad-godot-game-dev",
         "bmad-infrastructure-devops")

# Agents the upstream workflows name but no folder defines: each resolves to the one agent that fits
# (bmad/agentnames.py), and `validate` of the pack exits 0 with exactly these warnings about agents (file:line:col).
AGENT_WARNINGS = {
    "bmad-2d-phaser-game-dev": [  # the pack has no architect of its own: the core's
        "game-dev-greenfield.yaml:36:14: warning: unknown agent 'solution-architect': using 'architect' "
        "(the only agent of that name loaded)"],
    "bmad-2d-unity-game-dev": [
        "game-dev-greenfield.yaml:36:14: warning: unknown agent 'solution-architect': using 'game-architect' "
        "(the only 'architect' agent of this pack)"],
    "bmad-godot-game-dev": [
        "game-dev-greenfield.yaml:122:14: warning: unknown agent 'game-dev': using 'game-developer' "
        "(the only agent of that name here)",
        "game-dev-greenfield.yaml:144:14: warning: unknown agent 'game-dev': using 'game-developer' "
        "(the only agent of that name here)",
    ],
}
# The agent each of those workflows then runs at the step, by workflow id and step index.
SUBSTITUTED = {
    ("bmad-2d-phaser-game-dev", "game-dev-greenfield:full_game_sequence"): "architect",
    ("bmad-2d-unity-game-dev", "unity-game-dev-greenfield:full_game_sequence"): "game-architect",
    ("bmad-godot-game-dev", "godot-game-dev-greenfield"): "game-developer",
}


def layers(corpus: BmadCorpus, pack: str, tmp: Path) -> list[Path]:
    """The installed core (core + common/, as the upstream installer lays it out), then the pack."""
    core = tmp / ".bmad-core"
    if not core.exists():
        corpus.install(core)
    return [core, corpus.expansion_packs / pack]


def botarmy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


def bmad_args(dirs: list[Path]) -> list[str]:
    return [a for d in dirs for a in ("--bmad-dir", str(d))]


def pack_workflows(catalog: Catalog, pack_dir: Path) -> dict[str, list[str]]:
    """Workflow file name -> the workflow ids it gives (a file of named sequences gives several)."""
    found: dict[str, list[str]] = {}
    for file in sorted(p for g in ("*.yaml", "*.yml") for p in (pack_dir / "workflows").glob(g)):
        found[file.name] = sorted(w.id for w in catalog.workflows.values() if Path(w.source.path) == file)
    return found


def test_every_upstream_pack_is_covered(bmad_corpus: BmadCorpus) -> None:
    assert tuple(sorted(p.name for p in bmad_corpus.expansion_packs.iterdir() if p.is_dir())) == PACKS
    # the one workflows/ file that is not YAML is an asset canvas (an agent, tasks, a template), not a workflow
    others = [p.name for p in bmad_corpus.expansion_packs.glob("*/workflows/*") if p.suffix not in (".yaml", ".yml")]
    assert others == ["book-cover-design-workflow.md"]


@pytest.mark.parametrize("pack", PACKS)
def test_pack_validates_from_the_cli(bmad_corpus: BmadCorpus, tmp_path: Path, pack: str) -> None:
    dirs = layers(bmad_corpus, pack, tmp_path)
    done = botarmy("validate", *bmad_args(dirs), cwd=tmp_path)
    errors = [ln for ln in done.stderr.splitlines() if ln and ": warning: " not in ln]
    assert done.returncode == 0, done.stderr
    assert errors == [] and done.stdout.splitlines()[-1].startswith("ok: ")
    prefix = f"{dirs[1].as_posix()}/workflows/"
    agents = [ln.removeprefix(prefix) for ln in done.stdout.splitlines() if "unknown agent" in ln]
    assert agents == AGENT_WARNINGS.get(pack, [])


@pytest.mark.parametrize("pack", PACKS)
async def test_every_pack_workflow_plans_and_runs_to_completion_offline(
    bmad_corpus: BmadCorpus, tmp_path: Path, time_env, settings: Settings, store: Store, pack: str
) -> None:
    dirs = layers(bmad_corpus, pack, tmp_path)
    catalog = load_bmad(dirs)
    files = pack_workflows(catalog, dirs[1])
    assert all(files.values()), f"workflow files that give no workflow: {files}"
    ids = [w for ws in files.values() for w in ws]
    for workflow in ids:
        done = botarmy("plan", workflow, *bmad_args(dirs), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert workflow in done.stdout
    async with running_worker(time_env.client, settings, store):
        for workflow in ids:
            plan = save_plan(store, compile_workflow(catalog, workflow))
            if (pack, workflow) in SUBSTITUTED:  # the step that names a missing agent runs the one that fits
                meant = SUBSTITUTED[(pack, workflow)]
                assert meant in plan.agents and any(meant in s.agents and s.agent != meant for s in plan.steps)
            inputs = run_inputs(plan, conditions=False)
            handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue,
                                     auto_approve=True)
            result = await handle.result()
            assert result.status == "completed", workflow
            run = store.get_run(result.run_id)
            assert run is not None and run.status == "completed"
            documents = {a.name for a in run.artifacts if not a.name.endswith(".transcript.md")}
            assert sorted(documents) == sorted(set(expected_outputs(plan, inputs).values())), workflow
    assert pack == "bmad-infrastructure-devops" or ids  # every pack but the devops one has workflows
