"""The commands a user reaches for around runs: runs, status, watch, cancel, workflows, --version, validate
--quiet; output that is not a terminal is plain lines with whole ids; Ctrl-C during `run` says how to get back."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from store.types import RUN_STATUSES
from tests.cli.conftest import BOTARMY, botarmy, stderr_lines, stored_run
from tests.conftest import OWN_BMAD, ROOT, free_port

BOXES = set("┏┃━┡│╭╰")


@pytest.fixture
def finished_run(home_env, dev_server) -> tuple[dict[str, str], str, subprocess.CompletedProcess[str]]:
    home_env["TEMPORAL_ADDRESS"] = dev_server
    done = botarmy("run", "quick-fix", "--auto-approve", env=home_env)
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"run (\w+) of quick-fix started", done.stderr).group(1)
    return home_env, run_id, done


def test_run_hosting_its_worker_logs_to_a_file_and_prints_plain_lines_with_whole_ids(finished_run):
    env, run_id, done = finished_run
    log = Path(env["BOTARMY_HOME_DIR"]) / "logs" / f"run-{run_id}.log"
    assert f"its log: {log}" in done.stderr and log.is_file()
    assert '"event": "step.completed"' in log.read_text()  # the worker's logs went to the file ...
    assert '"level"' not in done.stderr and "Context impl" not in done.stderr  # ... and not to the terminal
    assert f"run {run_id} — quick-fix: completed" in done.stdout
    assert not BOXES & set(done.stdout)
    assert re.search(r"^01-pm-prd\s+pm\s+completed\s+1\s+offline$", done.stdout, re.M)


def test_runs_lists_newest_first_as_plain_lines_and_as_json(finished_run):
    env, run_id, _ = finished_run
    failed = stored_run(env["DATABASE_URL"], "failed", "boom")
    listed = json.loads(botarmy("runs", "--json", env=env).stdout)
    assert [r["id"] for r in listed] == [failed, run_id]
    assert set(listed[1]) >= {"id", "workflow", "status", "started", "duration_s"}
    assert listed[1]["workflow"] == "quick-fix" and listed[1]["status"] == "completed"
    assert listed[1]["duration_s"] > 0
    only = json.loads(botarmy("runs", "--json", "--status", "completed", "--limit", "5", env=env).stdout)
    assert [r["id"] for r in only] == [run_id]
    assert json.loads(botarmy("runs", "--json", "--workflow", "greenfield-service", env=env).stdout) == []
    plain = botarmy("runs", env=env)
    assert re.search(rf"^{run_id}\s+quick-fix\s+completed\s+\S+ \S+\s+\d+s$", plain.stdout, re.M), plain.stdout
    assert not BOXES & set(plain.stdout)


def test_runs_with_an_unknown_status_names_the_valid_ones(home_env):
    done = botarmy("runs", "--status", "done", env=home_env)
    assert done.returncode == 2 and len(stderr_lines(done)) == 1
    assert all(s in done.stderr for s in RUN_STATUSES)


def test_watch_a_finished_run_prints_it_and_exits_by_its_outcome(finished_run):
    env, run_id, _ = finished_run
    completed = botarmy("watch", run_id, env=env)
    assert completed.returncode == 0 and f"run {run_id} — quick-fix: completed" in completed.stdout
    failed = botarmy("watch", stored_run(env["DATABASE_URL"], "failed", "boom"), env=env)
    assert failed.returncode == 1 and "boom" in failed.stdout


def test_cancel_a_finished_run_says_what_it_is(finished_run):
    env, run_id, _ = finished_run
    done = botarmy("cancel", run_id, env=env)
    assert done.returncode == 1 and stderr_lines(done) == [f"error: run {run_id} is not running: it is completed"]


def test_ctrl_c_during_run_says_it_pauses_status_shows_the_wait_and_watch_follows_it_to_the_end(home_env, dev_server):
    env = {**home_env, "TEMPORAL_ADDRESS": dev_server}
    proc = subprocess.Popen([*BOTARMY, "run", "quick-fix", "--approve", "all"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 120
    while b"waiting   01-pm-prd" not in seen and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stderr], [], [], 1)[0]:
            seen += os.read(proc.stderr.fileno(), 65536)
    assert b"waiting   01-pm-prd" in seen, seen
    run_id = re.search(r"run (\w+) of quick-fix started", seen.decode()).group(1)

    status = botarmy("status", run_id, env=env)
    assert status.returncode == 0, status.stderr
    assert re.search(r"^01-pm-prd\s+pm\s+waiting: approval of prd.md v1\s", status.stdout, re.M), status.stdout

    proc.send_signal(signal.SIGINT)
    _, tail = proc.communicate(timeout=60)
    rest = tail.decode()
    assert proc.returncode == 130, rest
    last = [line for line in rest.splitlines() if line.strip()][-1]
    assert f"run {run_id} pauses until a worker runs" in last and f"botarmy watch {run_id}" in last
    assert "Traceback" not in rest

    cancelled = botarmy("cancel", run_id, env=env)  # Temporal takes the request though no worker polls now
    assert cancelled.returncode == 0 and f"cancel requested for run {run_id}" in cancelled.stdout

    # re-attached while the run is paused, `watch` ends when a worker runs it to its end (cancelled: exit 1)
    watcher = subprocess.Popen([*BOTARMY, "watch", run_id], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    worker = subprocess.Popen([*BOTARMY, "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        watched, watch_err = watcher.communicate(timeout=120)
    finally:
        worker.terminate()
        worker.wait(30)
    assert watcher.returncode == 1, watch_err
    assert f"run {run_id} — quick-fix: cancelled" in watched
    assert "waiting   01-pm-prd" in watch_err  # what happened so far, from the run's events


def test_workflows_lists_every_runnable_workflow_with_its_source(home_env):
    done = botarmy("workflows", "--json", "--bmad-dir", str(OWN_BMAD), env=home_env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert isinstance(found, list) and [w["id"] for w in found] == ["greenfield-service", "quick-fix"]
    for w in found:
        assert set(w) == {"id", "name", "kind", "source"} and Path(w["source"]).is_file()
    plain = botarmy("workflows", "--bmad-dir", str(OWN_BMAD), env=home_env)
    assert re.search(r"^quick-fix\s+Quick Fix\s+brownfield\s+\S+quick-fix.yaml$", plain.stdout, re.M), plain.stdout


def test_version(home_env):
    done = botarmy("--version", env=home_env)
    assert done.returncode == 0 and re.fullmatch(r"botarmy \d+\.\d+\.\d+\S*\n", done.stdout)


def test_validate_quiet_prints_one_line_counting_warnings_by_kind(home_env):
    full = botarmy("validate", "--bmad-dir", str(OWN_BMAD), env=home_env)
    quiet = botarmy("validate", "--quiet", "--bmad-dir", str(OWN_BMAD), env=home_env)
    assert quiet.returncode == 0 == full.returncode
    warnings = [line for line in full.stdout.splitlines() if ": warning: " in line]
    lines = quiet.stdout.splitlines()
    assert len(lines) == 1 and not quiet.stderr
    counted = re.search(r"(\d+) warnings: (.*)$", lines[0])
    assert counted and int(counted.group(1)) == len(warnings)
    kinds = dict(re.fullmatch(r"(\d+) (.+)", part).groups()[::-1] for part in counted.group(2).split(", "))
    assert sum(map(int, kinds.values())) == len(warnings) and "is ignored" in kinds


def test_validate_quiet_still_prints_every_error(home_env):
    done = botarmy("validate", "--quiet", "--bmad-dir", str(ROOT / "tests" / "fixtures" / "broken" / "two-errors"),
                   env=home_env)
    assert done.returncode == 2
    errors = stderr_lines(done)
    assert len(errors) >= 2 and all(re.match(r"^\S+:\d+:\d+: ", line) for line in errors)
    assert ": warning: " not in done.stdout and re.fullmatch(r"\d+ warnings.*\n", done.stdout)


def test_no_info_logs_on_a_users_screen_unless_asked(home_env):
    first = botarmy("runs", "--json", env=home_env)  # the first use migrates the new database
    assert first.returncode == 0 and json.loads(first.stdout) == [] and not first.stderr
    upgraded = botarmy("db", "upgrade", env={**home_env, "DATABASE_URL": home_env["DATABASE_URL"] + "-2"})
    assert upgraded.stdout.splitlines() == [f"database at {home_env['DATABASE_URL']}-2 is up to date"]
    assert not upgraded.stderr
    verbose = botarmy("-v", "db", "upgrade", env={**home_env, "DATABASE_URL": home_env["DATABASE_URL"] + "-3"})
    assert '"event": "store.migrated"' in verbose.stderr and "Context impl" in verbose.stderr


def test_plan_and_tables_are_plain_lines_when_not_a_terminal(home_env):
    done = botarmy("plan", "quick-fix", "--bmad-dir", str(OWN_BMAD), env=home_env)
    assert done.returncode == 0 and not BOXES & set(done.stdout)
    assert re.search(r"^2\s+02-dev-implementation-notes\s+dev\s+implementation-notes.md\s+prd.md$", done.stdout, re.M)


def test_a_failing_step_in_a_hosted_worker_keeps_sdk_warnings_in_the_log_file(home_env, dev_server):
    env = {**home_env, "TEMPORAL_ADDRESS": dev_server, "BOTARMY_MODEL": "openai:gpt-test", "OPENAI_API_KEY": "sk-x",
           "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", "BOTARMY_RETRY_MAX_ATTEMPTS": "2",
           "BOTARMY_RETRY_INITIAL_S": "0.1"}
    done = botarmy("run", "quick-fix", "--auto-approve", env=env)
    assert done.returncode == 1, done.stderr  # the run failed: 1, not 2
    assert "Traceback" not in done.stderr and "Completing activity" not in done.stderr
    assert "  failed    01-pm-prd:" in done.stderr
    run_id = re.search(r"run (\w+) of quick-fix started", done.stderr).group(1)
    log = (Path(env["BOTARMY_HOME_DIR"]) / "logs" / f"run-{run_id}.log").read_text()
    assert "Completing activity as failed" in log and "Traceback" in log


def test_usage_errors_are_plain_lines_when_not_a_terminal(home_env):
    done = botarmy("nosuch", env=home_env)
    assert done.returncode == 2 and "No such command 'nosuch'" in done.stderr
    assert not BOXES & set(done.stderr)
