"""Our dev server is started once per data file: `run` with another TEMPORAL_ADDRESS is refused in one line
naming the address ours serves, and `stop` stops what we started whatever TEMPORAL_ADDRESS says now."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from botarmy.devserver import answers
from tests.cli.conftest import botarmy, stderr_lines
from tests.conftest import free_port


def gone(pid: int, within_s: float = 20) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def test_a_second_server_on_our_data_file_is_refused_and_stop_stops_the_first(home_env):
    home = Path(home_env["BOTARMY_HOME_DIR"])
    ours = home_env["TEMPORAL_ADDRESS"]
    try:
        started = botarmy("dev", "--detach", env=home_env, timeout=120)
        assert started.returncode == 0, started.stderr
        assert f"started at {ours}" in started.stdout and str(home / "temporal.db") in started.stdout
        assert f"worker polls task queue {home_env['BOTARMY_TASK_QUEUE']!r}" in started.stdout
        record = json.loads((home / "temporal.pid").read_text())
        assert record["address"] == ours and record["data"] == str(home / "temporal.db")

        other = f"127.0.0.1:{free_port()}"
        refused = botarmy("run", "quick-fix", "--auto-approve", env={**home_env, "TEMPORAL_ADDRESS": other})
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        lines = stderr_lines(refused)
        assert len(lines) == 1, lines
        assert other in lines[0] and ours in lines[0] and "botarmy stop" in lines[0]
        assert not answers(other)  # no second server was started
        again = botarmy("dev", "--detach", env={**home_env, "TEMPORAL_ADDRESS": other}, timeout=60)
        assert again.returncode == 2 and ours in again.stderr
    finally:
        stopped = botarmy("stop", env={**home_env, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert f"Temporal dev server: stopped (pid {record['pid']} at {ours})" in stopped.stdout
    assert "worker: stopped" in stopped.stdout
    assert gone(record["pid"])
    assert not (home / "temporal.pid").exists() and not (home / "worker.pid").exists()
