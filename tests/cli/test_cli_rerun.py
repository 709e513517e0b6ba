"""`botarmy rerun` as a user runs it: a rerun from a step prints the run object linked to its parent, with the
earlier steps carried over (same documents) and an edited document as the next version; a completed run without
--from is refused in one line; `run --reuse` takes over every identical step."""

from __future__ import annotations

import json
import re

from tests.cli.conftest import botarmy, stderr_lines


def test_rerun_from_a_step_with_an_edited_document_prints_the_linked_run(home_env, dev_server, tmp_path):
    home_env["TEMPORAL_ADDRESS"] = dev_server
    first = botarmy("run", "quick-fix", "--auto-approve", "--json", env=home_env)
    assert first.returncode == 0, first.stderr
    parent = json.loads(first.stdout)

    refused = botarmy("rerun", parent["run_id"], env=home_env)
    assert refused.returncode == 2
    assert stderr_lines(refused) == [f"error: run {parent['run_id']} completed; give --from STEP to rerun it "
                                     "from a step"]

    edited = tmp_path / "prd.md"
    edited.write_text("# PRD\n\nEDITED by a person\n")
    done = botarmy("rerun", parent["run_id"], "--from", "02-dev-implementation-notes", "--artifact",
                   f"prd.md={edited}", "--json", env=home_env)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    assert (child["parent_run_id"], child["rerun_from"]) == (parent["run_id"], "02-dev-implementation-notes")
    assert child["definition_hash"] == parent["definition_hash"] and child["model"] == parent["model"]
    steps = {s["id"]: s for s in child["steps"]}
    assert steps["01-pm-prd"]["reused_from"] == f"{parent['run_id']}/01-pm-prd"
    assert steps["02-dev-implementation-notes"]["reused_from"] is None
    prd = [a for a in child["artifacts"] if a["name"] == "prd.md"]
    parent_prd = next(a for a in parent["artifacts"] if a["name"] == "prd.md")
    assert [(a["version"], a["sha256"]) for a in prd][0] == (1, parent_prd["sha256"])
    assert prd[-1]["version"] == 2 and prd[-1]["sha256"] != parent_prd["sha256"]
    assert child["usage"]["calls"] == parent["usage"]["calls"] - 1  # the PRD was not written again

    reused = botarmy("run", "quick-fix", "--auto-approve", "--reuse", "--json", env=home_env)
    assert reused.returncode == 0, reused.stderr
    again = json.loads(reused.stdout)
    assert again["usage"]["calls"] == 0
    assert [a["sha256"] for a in again["artifacts"]] == [a["sha256"] for a in parent["artifacts"]]
    assert all(re.fullmatch(r"\w+/.+", s["reused_from"] or "") for s in again["steps"] if s["agent"])
