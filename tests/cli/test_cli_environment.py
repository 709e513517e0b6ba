"""When the world is wrong (Temporal or the database does not answer, a setting does not parse, a model has no
key), every command says so in one line naming the address or variable, exits 2, and shows no traceback."""

from __future__ import annotations

import pytest

from tests.cli.conftest import botarmy, stderr_lines, stored_run
from tests.conftest import free_port

NO_PG = "postgresql+psycopg://nobody@127.0.0.1:1/x"


def one_clear_line(done, code: int = 2) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    lines = stderr_lines(done)
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("command", [
    ["approvals"], ["decide", "RUN", "01-pm-prd", "approve"], ["watch", "RUN"], ["cancel", "RUN"],
])
def test_temporal_unreachable_is_one_line_naming_the_address(home_env, command):
    run_id = stored_run(home_env["DATABASE_URL"])
    done = botarmy(*[run_id if arg == "RUN" else arg for arg in command], env=home_env)
    line = one_clear_line(done)
    assert home_env["TEMPORAL_ADDRESS"] in line and "TEMPORAL_ADDRESS" in line and "botarmy dev" in line


def test_run_against_a_remote_temporal_that_does_not_answer_is_one_line(home_env):
    home_env["TEMPORAL_ADDRESS"] = "192.0.2.1:7233"  # TEST-NET: nothing answers, and it is not ours to start
    done = botarmy("run", "quick-fix", "--auto-approve", env=home_env)
    line = one_clear_line(done)
    assert "192.0.2.1:7233" in line and "TEMPORAL_ADDRESS" in line


def test_status_and_runs_need_no_temporal(home_env):
    run_id = stored_run(home_env["DATABASE_URL"])
    status = botarmy("status", run_id, env=home_env)
    note = one_clear_line(status, code=0)
    assert home_env["TEMPORAL_ADDRESS"] in note and "stored status" in note
    assert f"run {run_id} — quick-fix: running" in status.stdout
    runs = botarmy("runs", env=home_env)
    assert runs.returncode == 0 and run_id in runs.stdout and not runs.stderr


@pytest.mark.parametrize("command", [["runs"], ["status", "abc"], ["approvals"], ["serve", "--port", "PORT"]])
def test_postgres_unreachable_is_one_line_naming_the_url(home_env, command):
    home_env["DATABASE_URL"] = NO_PG
    done = botarmy(*[str(free_port()) if arg == "PORT" else arg for arg in command], env=home_env)
    line = one_clear_line(done)
    assert NO_PG in line and "DATABASE_URL" in line and "does not answer" in line


@pytest.mark.parametrize("command", [["runs"], ["status", "abc"], ["serve", "--port", "PORT"]])
def test_unparsable_database_url_is_one_line_naming_the_variable(home_env, command):
    home_env["DATABASE_URL"] = "notaurl"
    done = botarmy(*[str(free_port()) if arg == "PORT" else arg for arg in command], env=home_env)
    line = one_clear_line(done)
    assert "DATABASE_URL='notaurl'" in line and "sqlite:///" in line


def test_a_setting_that_does_not_parse_is_one_line_naming_the_variable(home_env):
    home_env["BOTARMY_TEMPORAL_UI_PORT"] = "abc"
    line = one_clear_line(botarmy("runs", env=home_env))
    assert "BOTARMY_TEMPORAL_UI_PORT='abc'" in line


def test_a_model_without_its_key_is_one_line_before_the_run_starts(home_env, dev_server):
    home_env.update(TEMPORAL_ADDRESS=dev_server, BOTARMY_MODEL="openai:gpt-4o-mini")
    done = botarmy("run", "quick-fix", "--auto-approve", env=home_env)
    line = one_clear_line(done)
    assert "OPENAI_API_KEY" in line and "openai:gpt-4o-mini" in line
    runs = botarmy("runs", "--json", env=home_env)
    assert runs.stdout.strip() == "[]"  # refused before anything was stored or started


def test_a_worker_without_its_model_key_says_so_at_start(home_env, dev_server):
    home_env.update(TEMPORAL_ADDRESS=dev_server, BOTARMY_MODEL="openai:gpt-4o-mini")
    line = one_clear_line(botarmy("worker", env=home_env, timeout=60))
    assert "OPENAI_API_KEY" in line


def test_a_sqlite_path_that_cannot_be_made_is_one_line(home_env, tmp_path):
    (tmp_path / "a-file").write_text("")
    home_env["DATABASE_URL"] = f"sqlite:///{tmp_path}/a-file/botarmy.db"
    line = one_clear_line(botarmy("runs", env=home_env))
    assert "cannot be opened" in line and "a-file" in line and "DATABASE_URL" in line
