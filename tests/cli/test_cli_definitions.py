"""`botarmy validate` and `botarmy plan` as a user runs them: exit codes and one line per problem."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import OWN_BMAD, ROOT, subprocess_env, upstream_core

FIXTURES = ROOT / "tests" / "fixtures" / "broken"


def botarmy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", *args], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


def test_every_file_of_our_own_bmad_core_validates_and_warns_only_of_what_is_ignored():
    done = botarmy("validate", "--bmad-dir", str(OWN_BMAD))
    assert done.returncode == 0, done.stderr
    assert "ok: 2 workflows, 7 agents, 7 templates, 2 teams;" in done.stdout
    warnings = [ln for ln in done.stdout.splitlines() if ": warning: " in ln]
    assert warnings and all(re.match(r"^\S+:\d+:\d+: warning: .* is ignored: ", ln) for ln in warnings), warnings


def test_broken_definitions_give_exit_2_and_one_path_line_col_line_per_problem():
    done = botarmy("validate", "--bmad-dir", str(FIXTURES / "two-errors"))
    assert done.returncode == 2
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) >= 2
    assert all(re.match(r"^\S+:\d+:\d+: ", ln) for ln in lines), lines
    assert "Traceback" not in done.stderr


def test_plan_json_of_upstream_workflow_shows_system_messages_and_defaults():
    done = botarmy("plan", "greenfield-fullstack", "--bmad-dir", str(upstream_core()), "--format", "json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["workflow_id"] == "greenfield-fullstack" and len(plan["definition_hash"]) == 64
    assert "John" in plan["agents"]["pm"]["system_message"]
    assert plan["input_defaults"]["for_each_epic"] == 1


def test_unknown_workflow_names_the_known_ones():
    done = botarmy("plan", "nope", "--bmad-dir", str(OWN_BMAD))
    assert done.returncode == 2 and "greenfield-service" in done.stderr and "Traceback" not in done.stderr


def test_plan_text_shows_each_agents_exact_system_message():
    from bmad import compile_workflow, load_bmad

    done = botarmy("plan", "quick-fix", "--bmad-dir", str(OWN_BMAD))
    assert done.returncode == 0, done.stderr
    plan = compile_workflow(load_bmad([OWN_BMAD]), "quick-fix")
    for agent in plan.agents.values():
        assert f"--- system message of {agent.id} ---\n{agent.system_message}" in done.stdout
