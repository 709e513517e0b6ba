"""Every upstream BMAD v4 workflow, run to completion offline on the time-skipping server; and validated."""

from __future__ import annotations

import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest

from bmad import Catalog, compile_workflow, load_bmad
from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import start_run
from store import Store
from tests.conftest import UPSTREAM_WORKFLOWS, running_worker, save_plan, subprocess_env, upstream_core

ITERATIONS = 2

# Workflows that cannot run as written, with the reason; the test of each is marked xfail(strict=True).
CANNOT_RUN: dict[str, str] = {}


@cache
def catalog() -> Catalog:
    return load_bmad(upstream_core())


def workflow_id(file: str) -> str:
    found = [w.id for w in catalog().workflows.values() if Path(w.source.path).name == file]
    assert len(found) == 1, f"{file} declares no workflow (or several)"
    return found[0]


def route_inputs(plan: Plan) -> set[str]:
    """Inputs decided by `routes:` steps (the routing question and the `<branch>_path` conditions)."""
    names = {s.condition or s.id for s in plan.steps if s.routes}
    return names | {f"{r.name}_path" for s in plan.steps for r in s.routes}


def run_inputs(plan: Plan, conditions: bool) -> dict[str, object]:
    inputs: dict[str, object] = {b.input_name: ITERATIONS for b in plan.repeat_blocks}
    if conditions:
        inputs.update({c: True for c in plan.conditions if c not in route_inputs(plan)})
    return inputs


def runs(plan: Plan, step, inputs: dict[str, object]) -> bool:
    """Whether an agent step runs: its condition holds (input, else the plan's default); route branches do not
    run under the default route, which continues the workflow."""
    if step.kind != "agent" or step.route_of:
        return False
    return not step.condition or bool(inputs.get(step.condition, plan.input_defaults.get(step.condition)))


def expected_outputs(plan: Plan, inputs: dict[str, object]) -> dict[str, str]:
    """Step key -> artifact name for every agent step that runs: scoped per iteration inside repeat blocks."""
    blocks = {b.start: b for b in plan.repeat_blocks}
    expected: dict[str, str] = {}
    i = 0
    main = [s for s in plan.steps if s.route_of is None]
    while i < len(main):
        block = blocks.get(i)
        end = block.end if block else i
        rounds = range(1, ITERATIONS + 1) if block else [None]
        for n in rounds:
            scope = f"{block.input_name.removeprefix('for_each_')}-{n}" if block else None
            for step in plan.steps[i:end + 1]:
                if not runs(plan, step, inputs):
                    continue
                name = step.output or f"{step.id}.md"
                expected[step.id if n is None else f"{step.id}[{n}]"] = f"{scope}/{name}" if scope else name
        i = end + 1
    return expected


def cases() -> list[object]:
    params = []
    for stem in UPSTREAM_WORKFLOWS:
        for conditions in (False, True):
            marks = [pytest.mark.xfail(reason=CANNOT_RUN[stem], strict=True)] if stem in CANNOT_RUN else []
            label = f"{stem}-{'all-conditions-true' if conditions else 'default-conditions'}"
            params.append(pytest.param(f"{stem}.yaml", conditions, marks=marks, id=label))
    return params


def test_every_upstream_workflow_file_is_covered() -> None:
    assert sorted(f.name for f in (upstream_core() / "workflows").glob("*.y*ml")) == [
        "brownfield-fullstack.yaml", "brownfield-service.yaml", "brownfield-ui.yaml",
        "greenfield-fullstack.yaml", "greenfield-service.yaml", "greenfield-ui.yaml",
    ]


@pytest.mark.parametrize("file, conditions", cases())
async def test_upstream_workflow_runs_to_completion_with_every_expected_artifact(
    time_env, settings: Settings, store: Store, file: str, conditions: bool
) -> None:
    plan = save_plan(store, compile_workflow(catalog(), workflow_id(file)))
    inputs = run_inputs(plan, conditions)
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue)
        result = await handle.result()
    assert result.status == "completed"
    run = store.get_run(result.run_id)
    assert run is not None and run.status == "completed"
    expected = expected_outputs(plan, inputs)
    documents = {a.name for a in run.artifacts if not a.name.endswith(".transcript.md")}  # composite-step chats
    assert sorted(documents) == sorted(set(expected.values()))
    statuses = {s.key: s.status for s in run.steps}
    assert all(statuses[key] == "completed" for key in expected), statuses
    skipped = {key for key, status in statuses.items() if status == "skipped"}
    not_run = {s.id for s in plan.steps if s.kind == "agent" and not runs(plan, s, inputs)}
    assert {key.split("[")[0] for key in skipped} == not_run
    by_condition = [d for d in result.decisions if d.condition not in route_inputs(plan)]
    decided = {s.condition for s in plan.steps if s.kind == "agent" and s.condition} - route_inputs(plan)
    assert sorted(d.condition for d in by_condition) == sorted(decided)  # control entries decide none
    assert all(d.value is conditions for d in by_condition)


def test_upstream_validates_with_no_errors_from_the_cli(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "botarmy.cli", "validate", "--bmad-dir", str(upstream_core())],
                          cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "ok: 6 workflows" in done.stdout


def test_upstream_loads_in_well_under_a_second() -> None:
    load_bmad(upstream_core())  # warm imports and file cache, as a second `validate` would be
    started = time.perf_counter()
    loaded = load_bmad(upstream_core())
    elapsed = time.perf_counter() - started
    assert not loaded.errors
    assert elapsed < 2.0, f"load_bmad took {elapsed:.2f} s"
