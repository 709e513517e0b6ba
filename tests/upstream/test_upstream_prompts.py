"""The system message of each upstream agent in a compiled plan: its persona, never its IDE activation steps."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bmad import Catalog, compile_workflow, load_bmad
from tests.conftest import UPSTREAM_WORKFLOWS, upstream_core

WORKFLOW_IDS = UPSTREAM_WORKFLOWS


@cache
def catalog() -> Catalog:
    return load_bmad(upstream_core())


def agent_yaml(agent_id: str) -> dict[str, Any]:
    text = (upstream_core() / "agents" / f"{agent_id}.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)\n```", text, re.DOTALL)
    assert block is not None
    return YAML(typ="safe", pure=True).load(block.group(1))


def one_line(item: Any) -> str:
    """An item of a YAML list as one line; `- CRITICAL: text` parses as a mapping and reads `CRITICAL: text`."""
    text = "; ".join(f"{k}: {v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
    return " ".join(text.split())


@pytest.mark.parametrize("workflow_id", WORKFLOW_IDS)
def test_plan_system_messages_hold_the_persona_and_not_the_activation_instructions(workflow_id: str) -> None:
    plan = compile_workflow(catalog(), workflow_id)
    assert plan.agents
    for agent_id, spec in plan.agents.items():
        raw = agent_yaml(agent_id)
        message = spec.system_message
        info, persona = raw["agent"], raw["persona"]
        assert message.startswith(f"You are {info['name']}, {info['title']} ({agent_id}).")
        assert f"Role: {one_line(persona['role'])}" in message
        principles = persona.get("core_principles") or raw.get("core_principles")  # dev keeps them at top level
        assert principles and "Core principles:" in message
        for principle in principles:
            assert f"- {one_line(principle)}" in message
        assert "activation" not in message.lower()
        for instruction in raw["activation-instructions"] + raw["IDE-FILE-RESOLUTION"]:
            assert one_line(instruction) not in message
        for command in raw["commands"]:
            name = next(iter(command)) if isinstance(command, dict) else str(command)
            assert f"*{name}" not in message


def test_system_message_is_the_same_in_every_plan_that_uses_the_agent() -> None:
    messages: dict[str, set[str]] = {}
    for workflow_id in WORKFLOW_IDS:
        for agent_id, spec in compile_workflow(catalog(), workflow_id).agents.items():
            messages.setdefault(agent_id, set()).add(spec.system_message)
    assert {"analyst", "pm", "architect", "po", "sm", "dev", "qa", "ux-expert"} <= set(messages)
    assert all(len(found) == 1 for found in messages.values())


def test_upstream_pm_system_message_exactly() -> None:
    plan = compile_workflow(catalog(), "greenfield-service")
    assert plan.agents["pm"].system_message == (
        "You are John, Product Manager (pm).\n"
        "Role: Investigative Product Strategist & Market-Savvy PM\n"
        "Style: Analytical, inquisitive, data-driven, user-focused, pragmatic\n"
        "Identity: Product Manager specialized in document creation and product research\n"
        "Focus: Creating PRDs and other product documentation using templates\n"
        "Core principles:\n"
        '- Deeply understand "Why" - uncover root causes and motivations\n'
        "- Champion the user - maintain relentless focus on target user value\n"
        "- Data-informed decisions with strategic judgment\n"
        "- Ruthless prioritization & MVP focus\n"
        "- Clarity & precision in communication\n"
        "- Collaborative & iterative approach\n"
        "- Proactive risk identification\n"
        "- Strategic thinking & outcome-oriented\n"
    )


def test_agent_files_exist_for_every_plan_agent() -> None:
    for workflow_id in WORKFLOW_IDS:
        for agent_id in compile_workflow(catalog(), workflow_id).agents:
            assert Path(upstream_core() / "agents" / f"{agent_id}.md").is_file()
