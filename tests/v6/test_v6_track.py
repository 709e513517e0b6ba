"""The BMM planning track of both pinned installs, from their help CSVs: listed by `botarmy workflows`, planned
in BMAD's phase and preceded-by order (optional workflows under a `with_<workflow>` input, default off), and run
as one durable run that writes brief → PRD → architecture → epics and stories in that order, each reading the
documents before it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bmad import compile_workflow, load_bmad
from bmad.plan import Plan
from bmad.v6.tracks import phase_rank
from botarmy.settings import Settings
from store import Store
from tests.conftest import subprocess_env, v6_install
from tests.upstream.test_pack_forms_runs import run_plan

TRACK = "bmm-planning-track"
# version: (the workflows in track order, [optional] ones bracketed; the brief's input; the documents in order)
EXPECTED = {
    "6.0.4": (
        ["[brainstorming]", "[market-research]", "[domain-research]", "[technical-research]",
         "[create-product-brief]", "create-prd", "[validate-prd]", "[edit-prd]", "[create-ux-design]",
         "create-architecture", "create-epics-and-stories", "check-implementation-readiness"],
        "with_create_product_brief",
        ["product-brief-project.md", "prd.md", "architecture.md", "epics.md"],
    ),
    "6.12.0": (
        ["[bmad-brainstorming]", "[bmad-product-brief]", "[bmad-prfaq]", "bmad-prd", "[bmad-ux]",
         "bmad-architecture", "bmad-create-epics-and-stories", "bmad-sprint-planning"],
        "with_bmad_product_brief",
        ["product-brief.md", "prd.md", "architecture.md", "epics-and-stories.md"],
    ),
}
VERSIONS = pytest.mark.parametrize("version", list(EXPECTED))


def track(version: str) -> Plan:
    return compile_workflow(load_bmad(v6_install(version)), TRACK)


def workflow_of(step_id: str) -> str:
    return step_id.split(".", 1)[0]


def test_phase_names_map_to_bmads_phase_numbers() -> None:
    assert [phase_rank(p) for p in ("1-analysis", "2-planning", "3-solutioning", "4-implementation")] == [1, 2, 3, 4]
    assert [phase_rank(p) for p in ("plan", "ship", "anytime", "_meta", "")] == [2, 4, None, None, None]


@VERSIONS
def test_the_track_is_listed_and_planned_in_phase_and_preceded_by_order(version: str, tmp_path: Path) -> None:
    order, brief, _ = EXPECTED[version]
    plan = track(version)
    assert plan.description.endswith(" → ".join(order))
    seen = list(dict.fromkeys(workflow_of(s.id) for s in plan.steps))
    assert seen == [w.strip("[]") for w in order]
    optional = {w.strip("[]") for w in order if w.startswith("[")}
    for step in plan.steps:
        if workflow_of(step.id) in optional:  # off unless its input (or the step's own if=) says so
            assert step.optional and step.condition and plan.input_defaults[step.condition] is False, step.id
        else:
            assert not (step.condition or "").startswith("with_"), step.id
    assert brief in plan.input_defaults and plan.input_defaults[brief] is False
    cli = [sys.executable, "-m", "botarmy.cli"]
    env = subprocess_env()
    listed = subprocess.run([*cli, "workflows", "--bmad-dir", str(v6_install(version))], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr
    row = next(ln for ln in listed.stdout.splitlines() if ln.startswith(TRACK))
    assert " track " in row and row.rstrip().endswith("_bmad/bmm/module-help.csv")
    planned = subprocess.run([*cli, "plan", TRACK, "--bmad-dir", str(v6_install(version))], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=120)
    assert planned.returncode == 0, planned.stderr
    assert f"if {brief} optional" in planned.stdout


@VERSIONS
async def test_a_track_run_writes_the_planning_documents_in_order_each_reading_those_before(
    version: str, time_env, settings: Settings, store: Store
) -> None:
    order, brief, documents = EXPECTED[version]
    plan = track(version)
    run, failure = await run_plan(time_env, settings, store, plan, {brief: True})
    assert failure is None and run.status == "completed", run.error
    assert run.workflow_id == TRACK
    done = sorted((s for s in run.steps if s.status == "completed"), key=lambda s: (s.finished_at, s.key))
    ran = list(dict.fromkeys(workflow_of(s.step_id) for s in done))
    wanted = [w for w in order if not w.startswith("[") or w.strip("[]").replace("-", "_") == brief[5:]]
    assert ran == [w.strip("[]") for w in wanted]
    skipped = {workflow_of(s.step_id) for s in run.steps if s.status == "skipped"}
    assert skipped == {w.strip("[]") for w in order if w.startswith("[")} - {brief[5:].replace("_", "-")}
    firsts: list[str] = []
    for art in sorted(run.artifacts, key=lambda a: a.id):  # in the order they were written
        base = art.name.rsplit("/", 1)[-1]
        if base in documents and base not in firsts:
            firsts.append(base)
    assert firsts == documents
    by_name = {Path(s.output).name: s for s in plan.steps if s.output}
    for earlier, later in zip(documents, documents[1:], strict=False):  # each document is read after it exists
        reader = by_name[later]
        assert any(Path(r).name == earlier for r in reader.requires), (later, reader.requires)
