"""A v6 `<goto>` follows workflow.xml (`goto step="x"` → jump to the specified step): compiled into the step's jumps
with their natural-language conditions; the agent says whether it takes one (`NEXT STEP: <n>`), the engine moves
there durably: forward skips the steps between, backward runs them again as new visits (`id#2`), at most
MAX_STEP_VISITS times; every jump is a recorded decision. The offline model takes none."""

from __future__ import annotations

import uuid
from collections import deque
from functools import cache

from temporalio.testing import ActivityEnvironment

from activities.agent_step import AgentStepActivities
from activities.events import EventSink
from activities.jumps import split_jump
from bmad import Catalog, compile_workflow, load_bmad
from bmad.diagnostics import Diagnostic
from bmad.plan import Plan
from bmad.v6 import find_install, instructions
from bmad.v6.plans import compile_v6
from bmad.v6.workflows import RawJump, RawStep, V6Workflow, _jumps
from botarmy.cli.follow import describe
from botarmy.settings import Settings
from botarmy.temporal import start_run
from store import RunView, Store
from testkit.fakes.openai_server import FakeOpenAI
from tests.conftest import running_worker, save_plan, v6_install
from tests.upstream.test_pack_forms_runs import run_plan
from tests.v6.test_v6_headless import prompt_of, with_fake
from workflows.contracts import MAX_STEP_VISITS, AgentStepInput, RunProgress
from workflows.run import BmadRunWorkflow

DOC = "# Notes\n\n## Section\n\nScripted answer.\n"


@cache
def catalog() -> Catalog:
    return load_bmad(v6_install("6.0.4"))


def plan_of(workflow: str) -> Plan:
    return compile_workflow(catalog(), workflow)


def ids(plan: Plan) -> dict[str, str]:
    """BMAD step number -> step id (`05-step-5-…` -> 5)."""
    return {s.id.split("-")[2]: s.id for s in plan.steps}


def test_dev_story_compiles_its_gotos_into_jumps_with_targets_and_conditions() -> None:
    plan = plan_of("dev-story")
    n = ids(plan)
    jumps = {s.id: [(j.to, j.step, j.condition, j.text) for j in s.jumps] for s in plan.steps if s.jumps}
    assert jumps == {
        n["1"]: [(n["6"], "6", "no incomplete tasks", "Completion sequence")],
        n["8"]: [(n["5"], "5", "more tasks remain", "Next task"), (n["9"], "9", "no tasks remain", "Completion")],
    }
    source = plan.steps[7].jumps[0].source
    assert source is not None and source.path.endswith("dev-story/instructions.xml") and source.line == 316
    assert plan.outline().steps[7].jumps[0].to == n["5"]
    # the three `<goto anchor="task_check">` land in step 1 itself: work within the step, no warning
    said = [str(w) for w in catalog().warnings if "dev-story/instructions.xml" in str(w)]
    assert not [w for w in said if "goto" in w], said


def test_correct_course_compiles_its_backward_gotos_with_the_enclosing_check_as_condition() -> None:
    plan = plan_of("correct-course")
    n = ids(plan)
    step5 = next(s for s in plan.steps if s.id == n["5"])
    assert [(j.to, j.condition, j.text) for j in step5.jumps] == [
        (n["3"], "no or revise", "If changes needed to edit proposals"),
        (n["4"], "no or revise", "If changes needed to overall proposal structure"),
    ]
    assert not [w for w in catalog().warnings if "not acted on" in str(w) and "goto" in str(w)]


def test_a_goto_to_a_missing_step_or_anchor_is_a_warning_at_its_line() -> None:
    text = ('<step n="1" goal="A">\n<anchor id="here"/>\n<check if="x is set">\n<goto step="7">Later</goto>\n'
            '</check>\n<goto anchor="nowhere"/>\n<goto anchor="there"/>\n</step>\n'
            '<step n="2" goal="B">\n<anchor id="there"/>\n<goto anchor="here">Back</goto>\n</step>\n')
    steps = instructions.parse(text)
    problems: list[Diagnostic] = []
    first = _jumps(steps[0], steps, "wf/instructions.md", problems)
    second = _jumps(steps[1], steps, "wf/instructions.md", problems)
    assert [(j.step, j.condition, j.text) for j in first] == [("2", "", "anchor there")]
    assert [(j.step, j.text, j.line) for j in second] == [("1", "Back", 11)]
    assert [(p.line, p.severity, p.message) for p in problems] == [
        (4, "warning", '<goto step="7"> in step 1 is not acted on: the instructions have no such step'),
        (6, "warning", '<goto anchor="nowhere"> in step 1 is not acted on: the instructions have no <anchor id> of '
                       "that name"),
    ]


def test_the_next_step_line_is_read_from_the_answer_and_taken_out_of_the_document() -> None:
    step = plan_of("dev-story").steps[7]
    n = ids(plan_of("dev-story"))
    for said, to in [("NEXT STEP: 5", n["5"]), ("**Next step: step 9**", n["9"]), (f"NEXT STEP: `{n['5']}`", n["5"])]:
        jump, doc = split_jump(DOC + "\n" + said + "\n", step)
        assert (jump.to, jump.ignored, doc) == (to, None, DOC)
    jump, doc = split_jump(DOC + "NEXT STEP: continue\n", step)
    assert (jump.to, jump.ignored, doc) == (None, None, DOC)
    jump, doc = split_jump(DOC + "NEXT STEP: 12\n", step)
    assert (jump.to, jump.ignored, doc) == (None, "12", DOC)
    assert split_jump(DOC, step)[0].to is None and split_jump(DOC, step)[1] == DOC


async def run_with_progress(time_env, settings: Settings, store: Store, plan: Plan) -> tuple[RunView, RunProgress]:
    """Run with --auto-approve to the end; the run as stored and the workflow's last progress (skip reasons)."""
    save_plan(store, plan)
    run_id = uuid.uuid4().hex[:12]
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue,
                                 auto_approve=True, run_id=run_id)
        await handle.result()
        progress = await handle.query(BmadRunWorkflow.progress)
    run = store.get_run(run_id)
    assert run is not None
    return run, progress


def keys(run: RunView) -> dict[str, tuple[str, str | None]]:
    return {s.key: (s.status, s.error) for s in run.steps}


def jumps_of(run: RunView) -> list[tuple[str, bool, str, str | None]]:
    return [(d["step"], d["value"], d["source"], d.get("choice")) for d in run.decisions
            if str(d.get("condition", "")).startswith("goto step")]


async def test_dev_story_goes_back_to_step_5_once_then_on_and_the_steps_run_again_as_second_visits(
    time_env, settings: Settings, store: Store
) -> None:
    plan = plan_of("dev-story")
    n = ids(plan)
    # 1..8, step 8 says "more tasks remain" (back to 5), 5#2..8#2, 8#2 names a step it cannot go to (ignored), 9, 10
    answers = [DOC] * 7 + [DOC + "\nNEXT STEP: 5\n"] + [DOC] * 3 + [DOC + "NEXT STEP: 12\n"] + [DOC] * 2
    with FakeOpenAI(replies=deque(answers)).start() as fake:
        run, failure = await run_plan(time_env, with_fake(settings, fake), store, plan, {})
        calls = list(fake.calls)
    assert failure is None and run.status == "completed", run.error
    assert len(calls) == 14
    assert "## Where the instructions may go next" in prompt_of(calls[7])
    assert "`NEXT STEP: 5` goes to step 5" in prompt_of(calls[7]) and "more tasks remain" in prompt_of(calls[7])
    runs = [s.key for s in run.steps if s.status == "completed"]
    assert sorted(runs) == sorted([n[k] for k in "12345678"] + [f"{n[k]}#2" for k in "5678"] + [n["9"], n["10"]])
    assert jumps_of(run) == [(n["8"], True, "agent dev", n["5"])]
    events = store.list_events(run.run_id)
    done = {e.data["step"]: e.data for e in events if e.type == "step.completed"}
    assert done[n["8"]]["jump"] == n["5"] and done[f"{n['8']}#2"]["jump_ignored"] == "12"
    followed = [describe(e, run.run_id) for e in events]  # what `botarmy run`/`watch` print as it goes
    assert f"  goto      {n['8']} → {n['5']}" in followed
    assert any(line and line.startswith(f"  goto      {n['8']}#2: NEXT STEP 12 is none") for line in followed)
    report = next(a for a in run.artifacts if a.name == f"{n['8']}.md" and a.version == 1)
    assert store.read_artifact(report.id, report.sha256).decode() == DOC  # the NEXT STEP line is not kept
    # an attempt retried after step 8's answer was stored (its completion lost) takes the same jump, from the store
    step8 = plan.outline().steps[7]
    again = AgentStepInput(run_id=run.run_id, definition_hash=plan.definition_hash, step=step8, key=n["8"],
                           available={})
    retried = await ActivityEnvironment().run(AgentStepActivities(settings, store, EventSink(store)).agent_step,
                                              again)
    assert (retried.jump, retried.artifact.version) == (n["5"], 1)


async def test_dev_story_goes_forward_from_step_1_to_6_and_the_steps_between_are_skipped_with_the_reason(
    time_env, settings: Settings, store: Store
) -> None:
    plan = plan_of("dev-story")
    n = ids(plan)
    with FakeOpenAI(replies=deque([DOC + "NEXT STEP: 6\n"])).start() as fake:
        run, progress = await run_with_progress(time_env, with_fake(settings, fake), store, plan)
        calls = len(fake.calls)
    assert run.status == "completed", run.error
    assert calls == 6  # 1, 6, 7, 8, 9, 10
    steps = keys(run)
    for k in "2345":
        assert steps[n[k]][0] == "skipped", k
    assert {steps[n[k]][0] for k in ("1", "6", "7", "8", "9", "10")} == {"completed"}
    assert jumps_of(run) == [(n["1"], True, "agent dev", n["6"])]
    reasons = {s.key: s.reason for s in progress.steps if s.status == "skipped"}
    assert reasons == {n[k]: f"goto step 6 from {n['1']}" for k in "2345"}


async def test_a_goto_loop_stops_at_the_visit_limit_and_the_run_goes_on_in_order(
    time_env, settings: Settings, store: Store
) -> None:
    plan = plan_of("correct-course")
    n = ids(plan)
    with FakeOpenAI(reply=DOC + "NEXT STEP: 3\n").start() as fake:  # step 5 always sends the run back to 3
        run, failure = await run_plan(time_env, with_fake(settings, fake), store, plan, {})
        calls = len(fake.calls)
    assert failure is None and run.status == "completed", run.error
    # 0.5, 1, 2, then 3-4-5 MAX_STEP_VISITS times, then 6
    assert calls == 3 + 3 * MAX_STEP_VISITS + 1
    done = {s.key for s in run.steps if s.status == "completed"}
    assert f"{n['3']}#{MAX_STEP_VISITS}" in done and f"{n['3']}#{MAX_STEP_VISITS + 1}" not in done
    made = jumps_of(run)
    assert len(made) == MAX_STEP_VISITS and all(taken for _, taken, _, _ in made[:-1])
    last = made[-1]
    assert last[:2] == (f"{n['5']}#{MAX_STEP_VISITS}", False) and "refused" in last[2] and last[3] == n["3"]


async def test_offline_dev_story_takes_no_jump_and_runs_every_step_once(time_env, settings: Settings,
                                                                          store: Store) -> None:
    plan = plan_of("dev-story")
    run, failure = await run_plan(time_env, settings, store, plan, {})
    assert failure is None and run.status == "completed", run.error
    assert sorted(s.key for s in run.steps) == sorted(s.id for s in plan.steps)
    assert {s.status for s in run.steps} == {"completed"} and not jumps_of(run)


def test_an_inlined_workflows_gotos_lead_within_it_and_jumps_across_a_repeated_step_are_warned_and_dropped() -> None:
    install = find_install(v6_install("6.0.4"))
    assert install is not None
    inner_path = "{project-root}/_bmad/bmm/workflows/inner/workflow.yaml"
    inner = V6Workflow(id="inner", name="inner", description="", module="bmm", path="inner/workflow.yaml",
                       kind="workflow.yaml", directory=install.root / "bmm/workflows/inner", steps=[
                           RawStep(title="Step 1: Draft", body="", path="inner/instructions.md", line=1, n="1"),
                           RawStep(title="Step 2: Check", body="", path="inner/instructions.md", line=5, n="2",
                                   jumps=[RawJump(step="1", condition="the draft is thin", text="", line=7)]),
                       ])
    outer = V6Workflow(id="outer", name="outer", description="", module="bmm", path="outer/workflow.yaml",
                       kind="workflow.yaml", directory=install.root / "bmm/workflows/outer", steps=[
                           RawStep(title="Step 1: Start", body="", path="outer/instructions.md", line=1, n="1",
                                   invokes=[inner_path]),
                           RawStep(title="Step 2: Each", body="", path="outer/instructions.md", line=4, n="2",
                                   repeat_input="for_each_item"),
                           RawStep(title="Step 3: End", body="", path="outer/instructions.md", line=8, n="3",
                                   jumps=[RawJump(step="1", condition="start over", text="", line=9)]),
                       ])
    problems: list[Diagnostic] = []
    shown = install.shown(install.root / "bmm/workflows/inner/workflow.yaml")
    plan = compile_v6(install, outer, {}, {shown: inner}, problems)
    assert [s.id for s in plan.steps] == ["01-step-1-start", "02-step-1-draft", "03-step-2-check", "04-step-2-each",
                                          "05-step-3-end"]
    assert [(j.to, j.condition) for j in plan.steps[2].jumps] == [("02-step-1-draft", "the draft is thin")]
    assert not plan.steps[4].jumps  # back to 1 would cross the repeated step 2
    assert [(p.path, p.line, p.message) for p in problems] == [
        ("outer/instructions.md", 9, '<goto step="1"> in step 3 is not acted on: it would move into, out of or '
                                     "across the repeated step 04-step-2-each")]


async def test_a_step_taken_from_the_step_cache_leads_where_its_cached_answer_led(
    time_env, settings: Settings, store: Store
) -> None:
    """`run --reuse`: step 1's cached answer said NEXT STEP: 6, so the cached run jumps too (steps 2-5 skipped),
    with no model call at all."""
    from store import ReusePlan, RunLineage
    from tests.activities.test_reuse_questions import run as run_launched

    plan = plan_of("dev-story")
    n = ids(plan)

    async def nothing(handle: object) -> None:
        return None

    with FakeOpenAI(replies=deque([DOC + "NEXT STEP: 6\n"])).start() as fake:
        paid = with_fake(settings, fake)
        first = await run_launched(time_env, paid, store, plan, nothing, auto_approve=True)
        assert first.status == "completed" and len(fake.calls) == 6
        cached = await run_launched(time_env, paid, store, plan, nothing, RunLineage(reuse=ReusePlan(cache=True)),
                                    auto_approve=True)
        calls = len(fake.calls)
    assert cached.status == "completed", cached.error
    assert calls == 6  # every step of the second run came from the cache
    steps = keys(cached)
    assert {k: steps[n[k]][0] for k in "2345"} == dict.fromkeys("2345", "skipped")
    assert jumps_of(cached) == [(n["1"], True, "agent dev", n["6"])]
    assert next(s for s in cached.steps if s.key == n["1"]).reused_from == f"{first.run_id}/{n['1']}"
    done = {e.data["step"]: e.data for e in store.list_events(cached.run_id) if e.type == "step.completed"}
    assert done[n["1"]]["jump"] == n["6"]


def test_a_goto_left_unclosed_is_no_goto_and_the_others_keep_their_conditions() -> None:
    """A `<goto` the file never closes with `>` (cut off by `</step>`) is skipped; it used to crash the parse."""
    text = ('<step n="1" goal="A"><check if="x is set"><goto step="2">Go</goto></check> <goto step="3" </step>\n'
            '<step n="2" goal="B">b</step>\n<step n="3" goal="C">c</step>\n')
    first = instructions.parse(text)[0]
    assert [(g.target, g.condition, g.text) for g in first.gotos] == [("2", "x is set", "Go")]
