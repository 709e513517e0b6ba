"""A composite step (analyst/pm) is a round-robin group chat of its agents in ONE activity; the transcript is kept."""

from __future__ import annotations

from bmad.plan import AgentSpec, Plan, PlanStep
from providers.offline import OFFLINE_LABEL
from testkit.fakes.scripted import Fault
from tests.activities.conftest import DOC, openai_at, run_plan, with_providers


def composite_plan() -> Plan:
    agents = {a: AgentSpec(id=a, name=a.title(), system_message=f"You are the {a}.") for a in ("analyst", "pm")}
    steps = [PlanStep(index=0, id="01-brief-prd", agent="analyst/pm", agents=["analyst", "pm"], creates="prd.md")]
    return Plan(workflow_id="test-composite", steps=steps, agents=agents).seal()


def _artifacts(store, run_id: str) -> dict[str, str]:
    return {a.name: store.read_artifact(a.id, a.sha256).decode() for a in store.get_run(run_id).artifacts}


async def test_composite_step_runs_both_agents_in_turns_and_stores_the_transcript(
    time_env, settings, store, tmp_path, openai_fake
):
    settings = with_providers(settings, tmp_path, openai_at(openai_fake))
    _, result = await run_plan(time_env, settings, store, composite_plan())

    assert result.status == "completed"
    assert len(openai_fake.calls) == 4  # two rounds of two agents
    systems = [c["body"]["messages"][0]["content"] for c in openai_fake.calls]
    assert [s.split(".")[0] for s in systems] == ["You are the analyst", "You are the pm"] * 2
    docs = _artifacts(store, result.run_id)
    assert set(docs) == {"prd.md", "prd.md.transcript.md"}
    assert docs["prd.md"] == DOC
    transcript = docs["prd.md.transcript.md"]
    assert "## 1. user" in transcript and "## 2. analyst" in transcript and "## 5. pm" in transcript
    step = store.get_run(result.run_id).steps[0]
    assert (step.status, step.attempts) == ("completed", 1)
    assert len(store.usage_for_run(result.run_id)) == 4


async def test_composite_step_stops_when_an_agent_approves_and_keeps_the_document_without_the_word(
    time_env, settings, store, tmp_path, openai_fake
):
    openai_fake.script.extend([Fault(reply="# Draft\n\n## Section\n\nFirst go.\n"),
                               Fault(reply="# PRD\n\n## Section\n\nAgreed version.\n\nAPPROVED\n")])
    settings = with_providers(settings, tmp_path, openai_at(openai_fake))
    _, result = await run_plan(time_env, settings, store, composite_plan())

    assert len(openai_fake.calls) == 2
    docs = _artifacts(store, result.run_id)
    assert docs["prd.md"] == "# PRD\n\n## Section\n\nAgreed version.\n"
    assert "First go." in docs["prd.md.transcript.md"] and "APPROVED" in docs["prd.md.transcript.md"]


async def test_composite_step_works_offline(time_env, settings, store, tmp_path):
    settings = settings.model_copy(update={"provider_health_file": tmp_path / "health.json"})
    _, result = await run_plan(time_env, settings, store, composite_plan())
    docs = _artifacts(store, result.run_id)
    assert docs["prd.md"].startswith(OFFLINE_LABEL) and "# prd.md" in docs["prd.md"]
