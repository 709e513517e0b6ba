"""`botarmy run` rides out a database outage: it says once that the database is unreachable, waits, and reports
the run's completion when the database is back; no traceback. A private PostgreSQL of the test's own (the
shared cluster is never stopped), the dev server, the worker `run` hosts."""

from __future__ import annotations

import subprocess
import threading
import time

from testkit.pg import private_postgres
from tests.cli.conftest import BOTARMY, home_env
from tests.conftest import ROOT, free_port

__all__ = ["home_env"]
OUTAGE_S = 5.0


def test_botarmy_run_waits_out_a_database_outage_and_reports_the_completed_run(
    home_env: dict[str, str], dev_server: str
) -> None:
    with private_postgres(free_port()) as pg:
        env = {**home_env, "DATABASE_URL": pg.url, "TEMPORAL_ADDRESS": dev_server, "BOTARMY_OFFLINE_LATENCY_MS": "1500"}
        proc = subprocess.Popen([*BOTARMY, "run", "quick-fix"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        first_step = threading.Event()

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line.rstrip("\n"))
                if "started   01-pm-prd" in line:
                    first_step.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert first_step.wait(120), "\n".join(lines)
            pg.stop()
            time.sleep(OUTAGE_S)  # the outage itself, not a bound on anything
            pg.start()
            proc.wait(240)  # stderr is the reader's; stdout (the run's table) is short enough for the pipe
            assert proc.stdout is not None
            stdout = proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(10)
    stderr = "\n".join(lines)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    unreachable = [line for line in lines if "the database is unreachable" in line]
    assert len(unreachable) == 1, stderr
    assert "retrying" in unreachable[0]
    assert any("the database is reachable again" in line for line in lines), stderr
    assert ": completed" in stdout  # the run's table: `run ID — quick-fix: completed`
    assert any("wrote     qa-review.md v1" in line for line in lines), stderr  # its last events were shown
