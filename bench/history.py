"""History size: single-step plans whose output and input documents are ~1 KB … 1 MB, and the bytes Temporal keeps.

The documents live in the store; the history must carry only pointers, so bytes per step should stay flat.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.engine import Bench
from bmad.plan import AgentSpec, Plan, PlanStep, TemplateSection, TemplateSpec
from workflows.contracts import ACTIVITY_AGENT_STEP

_TITLE = "Section {i:05d}: requirements, decisions and acceptance criteria"
_INSTRUCTION = (
    "Describe the requirements this part of the system must meet, the decisions already taken with their "
    "rationale, and the acceptance criteria a reviewer checks, in enough detail for a developer to start work."
)
# what the offline model writes per section: "## <title>\n\n" + "Offline draft: <instruction>\n\n"
_SECTION_BYTES = len(_TITLE.format(i=0)) + 5 + len("Offline draft: ") + len(_INSTRUCTION) + 2
_ACTIVITY_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
}


def parse_size(text: str) -> int:
    units = {"KB": 1024, "MB": 1024 * 1024, "B": 1}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def sized_plan(label: str, target_bytes: int) -> Plan:
    """One pm step that reads `input.md` and writes `doc.md` from a template sized to ~target_bytes."""
    count = max(1, round(target_bytes / _SECTION_BYTES))
    sections = [TemplateSection(id=f"s{i}", title=_TITLE.format(i=i), instruction=_INSTRUCTION) for i in range(count)]
    step = PlanStep(
        index=0, id="01-pm-doc", agent="pm", agents=["pm"], creates="doc.md", requires=["input.md"],
        template="sized", notes="Write the document, section by section.",
    )
    return Plan(
        workflow_id=f"bench-history-{label.lower()}",
        steps=[step],
        agents={"pm": AgentSpec(id="pm", name="PM", system_message="You are the product manager.")},
        templates={"sized": TemplateSpec(id="sized", title=f"Document of ~{label}", sections=sections)},
        external_inputs=["input.md"],
    ).seal()


@dataclass
class HistoryBytes:
    total: int  # every event of the run and its child workflows
    agent_step_events: int  # scheduled/started/completed events of agent_step activities
    agent_steps: int


async def history_bytes(client: Client, workflow_id: str) -> HistoryBytes:
    """Protobuf bytes of a run's history (children included), and the part its agent steps account for."""
    out = HistoryBytes(0, 0, 0)
    pending = [workflow_id]
    while pending:
        history = await client.get_workflow_handle(pending.pop()).fetch_history()
        agent_scheduled: set[int] = set()
        for ev in history.events:
            size = ev.ByteSize()
            out.total += size
            if ev.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                pending.append(ev.start_child_workflow_execution_initiated_event_attributes.workflow_id)
            elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                if ev.activity_task_scheduled_event_attributes.activity_type.name == ACTIVITY_AGENT_STEP:
                    agent_scheduled.add(ev.event_id)
                    out.agent_step_events += size
                    out.agent_steps += 1
            elif ev.event_type in _ACTIVITY_EVENTS and _scheduled_id(ev) in agent_scheduled:
                out.agent_step_events += size
    return out


def _scheduled_id(ev: object) -> int:
    for attr in ("activity_task_started_event_attributes", "activity_task_completed_event_attributes",
                 "activity_task_failed_event_attributes", "activity_task_timed_out_event_attributes"):
        if ev.HasField(attr):  # type: ignore[attr-defined]
            return int(getattr(ev, attr).scheduled_event_id)
    return -1


async def measure_size(bench: Bench, label: str, target_bytes: int) -> dict[str, float]:
    plan = await asyncio.to_thread(bench.save, sized_plan(label, target_bytes))
    rid = uuid.uuid4().hex[:10]
    content = _input_document(target_bytes)
    timed = await bench.engine_run(plan, {}, files={"input.md": content}, run_id=rid)
    sizes = await history_bytes(bench.client, timed.workflow_id)
    run = await asyncio.to_thread(bench.store.get_run, rid)
    assert run is not None
    output = next(a.bytes for a in run.artifacts if a.name == "doc.md")
    return {
        "output_bytes": output,
        "input_bytes": len(content),
        "agent_steps": timed.steps,
        "history_bytes_total": sizes.total,
        "history_bytes_per_step": sizes.agent_step_events / max(1, sizes.agent_steps),
    }


def _input_document(size: int) -> bytes:
    """An external document given with the run: context the agent reads but the history must never carry."""
    line = b"Input document line: context the agent reads but the history must never carry.\n"
    return (line * (size // len(line) + 1))[:size]
