"""`botarmy run ... --json` against the dev server, with a separate worker process doing the work."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from temporalio.client import Client

from botarmy.launch import launch
from botarmy.temporal import connect
from store import Store
from tests.conftest import ROOT
from tests.e2e.conftest import WorkerProcess, prepare_run, wait_for_poller
from tests.workflows.test_approvals import wait_pending

BOTARMY = [sys.executable, "-m", "botarmy.cli"]


def botarmy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BOTARMY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


async def test_run_json_reports_every_step_and_artifact_version(worker_env, workers, tmp_path):
    workers.append(WorkerProcess(worker_env, tmp_path / "worker.log").start())
    await wait_for_poller(worker_env["TEMPORAL_ADDRESS"], worker_env["BOTARMY_TASK_QUEUE"])
    done = botarmy("run", "greenfield-service", "--auto-approve", "--json",
                   "--input", "for_each_epic=2", "--input", "architecture_suggests_prd_changes=Yes", env=worker_env)
    assert done.returncode == 0, done.stderr
    assert "running one in this process" not in done.stderr  # the worker process did the work
    run = json.loads(done.stdout)
    assert run["status"] == "completed" and run["workflow_id"] == "greenfield-service"
    assert len(run["definition_hash"]) == 64
    assert run["inputs"]["architecture_suggests_prd_changes"] is True  # "Yes" on the command line: a boolean
    steps = {s["id"]: s for s in run["steps"]}
    assert set(steps["02-pm-prd"]) >= {"id", "agent", "status", "attempts", "started_at", "finished_at"}
    assert steps["02-pm-prd"]["status"] == "completed" and steps["02-pm-prd"]["attempts"] == 1
    assert steps["08-qa-qa-review[2]"]["status"] == "completed"
    versions = sorted((a["name"], a["version"]) for a in run["artifacts"])
    assert ("prd.md", 1) in versions and ("prd.md", 2) in versions  # the conditional update made version 2
    assert ("epic-2/story.md", 1) in versions
    store = Store(worker_env["DATABASE_URL"])
    for a in run["artifacts"]:
        ref = store.artifact_version(run["run_id"], a["name"], a["version"])
        assert ref is not None and ref.sha256 == a["sha256"]
        data = store.read_artifact(ref.id, ref.sha256)
        assert hashlib.sha256(data).hexdigest() == a["sha256"] and len(data) == a["bytes"]

    status = botarmy("status", run["run_id"], "--json", env=worker_env)
    assert json.loads(status.stdout)["artifacts"] == run["artifacts"]

    client: Client = await connect(worker_env["TEMPORAL_ADDRESS"])
    found = [w.id async for w in client.list_workflows(
        f"BotArmyWorkflow = 'greenfield-service' AND BotArmyDefinitionHash = '{run['definition_hash']}'")]
    assert run["temporal_workflow_id"] in found


def test_bad_input_flag_is_one_clear_line_and_exit_2(worker_env):
    done = botarmy("run", "greenfield-service", "--input", "for_each_epic=-1", env=worker_env)
    assert done.returncode == 2
    assert "for_each_epic" in done.stderr and "Traceback" not in done.stderr
    done = botarmy("run", "no-such-workflow", env=worker_env)
    assert done.returncode == 2 and "no-such-workflow" in done.stderr and "Traceback" not in done.stderr


async def test_run_starts_its_own_worker_when_the_listed_poller_is_a_dead_worker(worker_env, workers, tmp_path):
    dead = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    workers.append(dead)
    await wait_for_poller(worker_env["TEMPORAL_ADDRESS"], worker_env["BOTARMY_TASK_QUEUE"])
    dead.kill()  # Temporal keeps listing it as a poller for a while
    done = botarmy("run", "quick-fix", "--auto-approve", "--json", env=worker_env)
    assert done.returncode == 0, done.stderr
    assert "no worker took the run within" in done.stderr
    assert json.loads(done.stdout)["status"] == "completed"


async def test_decide_refuses_a_verb_that_does_not_fit_with_exit_2_and_the_reason_alone(worker_env, workers, tmp_path):
    workers.append(WorkerProcess(worker_env, tmp_path / "worker.log").start())
    ready = await prepare_run(worker_env, "quick-fix")
    launched = await launch(ready.client, ready.store, ready.settings, ready.plan, {}, approve=["pm"])
    await wait_pending(launched.handle, "01-pm-prd")
    misfit = botarmy("decide", launched.run_id, "01-pm-prd", "yes", env=worker_env)
    assert misfit.returncode == 2
    assert misfit.stderr.strip() == ("refused: 'yes' does not answer the approval of prd.md at step '01-pm-prd'; "
                                     "use approve, reject or amend (with the edited content)")
    elsewhere = botarmy("decide", launched.run_id, "02-dev-implementation-notes", "approve", env=worker_env)
    assert elsewhere.returncode == 2
    assert elsewhere.stderr.strip() == ("refused: step '02-dev-implementation-notes' is not waiting for a decision "
                                        "(waiting: 01-pm-prd)")
    approved = botarmy("decide", launched.run_id, "01-pm-prd", "approve", env=worker_env)
    assert approved.returncode == 0, approved.stderr
    assert (await launched.handle.result()).status == "completed"
