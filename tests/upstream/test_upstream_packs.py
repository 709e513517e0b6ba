"""Every workflow of every upstream v4 expansion pack, layered on its installed core: validated, planned and run to
completion offline (auto-approve) on the time-skipping server, with every document its steps write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bmad import Catalog, DefinitionError, compile_workflow, load_bmad
from botarmy.settings import Settings
from botarmy.temporal import start_run
from store import Store
from tests.conftest import BmadCorpus, running_worker, save_plan, subprocess_env
from tests.upstream.test_upstream_runs import expected_outputs, run_inputs

PACKS = ("bmad-2d-phaser-game-dev", "bmad-2d-unity-game-dev", "bmad-creative-writing", "bmad-godot-game-dev",
         "bmad-infrastructure-devops")

# Workflows the upstream content itself keeps from running: (pack, workflow id) -> (the lines at fault, why).
_NO_ARCHITECT = "names agent 'solution-architect', which neither the pack nor the core has"
CANNOT_RUN: dict[tuple[str, str], tuple[list[str], str]] = {
    ("bmad-2d-phaser-game-dev", "game-dev-greenfield"): (["game-dev-greenfield.yaml:36"], _NO_ARCHITECT),
    ("bmad-2d-phaser-game-dev", "game-dev-greenfield:full_game_sequence"): (["game-dev-greenfield.yaml:36"],
                                                                            _NO_ARCHITECT),
    ("bmad-2d-unity-game-dev", "unity-game-dev-greenfield"): (["game-dev-greenfield.yaml:36"], _NO_ARCHITECT),
    ("bmad-2d-unity-game-dev", "unity-game-dev-greenfield:full_game_sequence"): (["game-dev-greenfield.yaml:36"],
                                                                                 _NO_ARCHITECT),
    ("bmad-godot-game-dev", "godot-game-dev-greenfield"): (
        ["game-dev-greenfield.yaml:122", "game-dev-greenfield.yaml:144"],
        "names agent 'game-dev'; the pack's developer is 'game-developer'"),
}
# ... and so `validate` of those packs exits 2 with exactly these lines (file:line:col), nothing else.
VALIDATE_ERRORS = {
    "bmad-2d-phaser-game-dev": ["game-dev-greenfield.yaml:36:14: unknown agent 'solution-architect'"],
    "bmad-2d-unity-game-dev": ["game-dev-greenfield.yaml:36:14: unknown agent 'solution-architect'"],
    "bmad-godot-game-dev": [
        "game-dev-greenfield.yaml:122:14: unknown agent 'game-dev' (did you mean 'game-developer'?)",
        "game-dev-greenfield.yaml:144:14: unknown agent 'game-dev' (did you mean 'game-developer'?)",
    ],
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
    if pack not in VALIDATE_ERRORS:
        assert done.returncode == 0, done.stderr
        assert errors == [] and done.stdout.splitlines()[-1].startswith("ok: ")
        return
    assert done.returncode == 2
    prefix = f"{dirs[1].as_posix()}/workflows/"
    assert [ln.split("; known agents:")[0].removeprefix(prefix) for ln in errors] == VALIDATE_ERRORS[pack]


@pytest.mark.parametrize("pack", PACKS)
async def test_every_pack_workflow_plans_and_runs_to_completion_offline(
    bmad_corpus: BmadCorpus, tmp_path: Path, time_env, settings: Settings, store: Store, pack: str
) -> None:
    dirs = layers(bmad_corpus, pack, tmp_path)
    catalog = load_bmad(dirs)
    files = pack_workflows(catalog, dirs[1])
    assert all(files.values()), f"workflow files that give no workflow: {files}"
    ids = [w for ws in files.values() for w in ws]
    runnable = [w for w in ids if (pack, w) not in CANNOT_RUN]
    for workflow in ids:
        if (pack, workflow) in CANNOT_RUN:  # the exclusion holds only while upstream has that very fault
            lines, _why = CANNOT_RUN[(pack, workflow)]
            with pytest.raises(DefinitionError) as refused:
                compile_workflow(catalog, workflow)
            assert sorted({f"{Path(d.path).name}:{d.line}" for d in refused.value.diagnostics}) == lines
            continue
        done = botarmy("plan", workflow, *bmad_args(dirs), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert workflow in done.stdout
    async with running_worker(time_env.client, settings, store):
        for workflow in runnable:
            plan = save_plan(store, compile_workflow(catalog, workflow))
            inputs = run_inputs(plan, conditions=False)
            handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue,
                                     auto_approve=True)
            result = await handle.result()
            assert result.status == "completed", workflow
            run = store.get_run(result.run_id)
            assert run is not None and run.status == "completed"
            documents = {a.name for a in run.artifacts if not a.name.endswith(".transcript.md")}
            assert sorted(documents) == sorted(set(expected_outputs(plan, inputs).values())), workflow
    assert pack == "bmad-infrastructure-devops" or runnable  # every pack with workflows runs some
