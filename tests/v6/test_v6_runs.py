"""Every workflow of both pinned v6 installs runs offline with --auto-approve on the time-skipping server and
writes the documents its plan names (a step without an output writes a report named for the step)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from activities.headless import RESULT_SUFFIX
from bmad import Catalog, compile_workflow, load_bmad
from bmad.plan import Plan, PlanStep
from botarmy.settings import Settings
from store import Store
from tests.conftest import V6_VERSIONS, v6_install
from tests.upstream.test_pack_forms_runs import documents, run_plan
from tests.v6.listing import v6_workflow_ids

CASES = [(v, w) for v in V6_VERSIONS for w in v6_workflow_ids(v)]


@cache
def catalog(version: str) -> Catalog:
    return load_bmad(v6_install(version))


def expected(plan: Plan) -> list[str]:
    """What the plan writes with every condition at its default (false) and each repeat once; a headless step
    (skills from 6.7) writes its JSON result beside its document."""
    steps = [s for s in plan.steps if not s.condition]
    return sorted({written(s) for s in steps} | {written(s) + RESULT_SUFFIX for s in steps if s.headless})


def written(step: PlanStep) -> str:
    name = step.output or f"{step.id}.md"
    return f"{step.repeats.removeprefix('for_each_')}-1/{name}" if step.repeats else name


@pytest.mark.parametrize(("version", "workflow"), CASES)
async def test_every_v6_workflow_runs_offline_and_writes_its_documents(
    version: str, workflow: str, time_env, settings: Settings, store: Store, tmp_path: Path
) -> None:
    plan = compile_workflow(catalog(version), workflow)
    run, failure = await run_plan(time_env, settings, store, plan, {})
    assert failure is None and run.status == "completed", run.error
    assert sorted(set(documents(run))) == expected(plan)
    for name in expected(plan):  # every step that saves the document adds a version of it
        writers = [s for s in plan.steps if not s.condition and name in (written(s), written(s) + RESULT_SUFFIX)]
        assert documents(run).count(name) == len(writers), name
    first = next(s for s in plan.steps if not s.condition)
    record = next(s for s in run.steps if s.key == first.id)
    assert record.agent == first.agent and record.status == "completed"
