"""`botarmy run --team`: a team without every agent of the workflow is refused before anything starts; without
--team the first compatible team is picked and recorded in the run as the input `_team`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bmad import load_bmad
from botarmy.cli.main import run_team
from store import Store
from tests.conftest import OWN_BMAD, subprocess_env


def botarmy(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", *args], cwd=cwd, env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=300)


def no_temporal(tmp_path: Path) -> dict[str, str]:
    """Settings under which reaching Temporal or the database would fail loudly."""
    return {"TEMPORAL_ADDRESS": "127.0.0.1:9", "DATABASE_URL": f"sqlite:///{tmp_path}/never.db",
            "BOTARMY_TASK_QUEUE": f"tq-{uuid.uuid4().hex[:8]}"}


def test_run_with_a_team_that_lacks_agents_is_refused_with_one_line_naming_them(tmp_path: Path) -> None:
    done = botarmy("run", "greenfield-service", "--team", "team-planning", "--bmad-dir", str(OWN_BMAD),
                   cwd=tmp_path, **no_temporal(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: team 'team-planning' cannot run greenfield-service: it lacks sm, dev, qa"]
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no dev server data: nothing started


def test_run_with_an_unknown_team_names_the_known_ones(tmp_path: Path) -> None:
    done = botarmy("run", "quick-fix", "--team", "team-x", "--bmad-dir", str(OWN_BMAD), cwd=tmp_path,
                   **no_temporal(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unknown team 'team-x'; available teams: team-core, team-planning"]


def test_team_choice_without_temporal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    own = load_bmad(OWN_BMAD)
    assert run_team(own, "team-core", "greenfield-service") == "team-core"
    assert run_team(own, None, "greenfield-service") == "team-core"
    assert run_team(own, None, "quick-fix") == "team-core"
    assert capsys.readouterr().err == ""
    lonely = tmp_path / "core"
    shutil.copytree(OWN_BMAD, lonely)
    (lonely / "agent-teams" / "team-core.yaml").unlink()
    assert run_team(load_bmad(lonely), None, "quick-fix") is None
    assert capsys.readouterr().err.strip() == (
        "warning: no agent team has every agent quick-fix needs; running without a team (_team: null)")


def test_plan_level_team_check_of_our_own_core(tmp_path: Path) -> None:
    done = botarmy("teams", "check", "team-core", "greenfield-service", "--bmad-dir", str(OWN_BMAD), cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "team-core can run greenfield-service"
    done = botarmy("teams", "check", "team-planning", "greenfield-service", "--bmad-dir", str(OWN_BMAD),
                   cwd=tmp_path)
    assert done.returncode == 1 and "missing: sm, dev, qa" in done.stdout


def test_run_without_team_picks_a_compatible_one_prints_and_records_it(dev_server: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/botarmy.db"
    done = botarmy("run", "quick-fix", "--bmad-dir", str(OWN_BMAD), "--auto-approve", cwd=tmp_path,
                   TEMPORAL_ADDRESS=dev_server, DATABASE_URL=url, BOTARMY_TASK_QUEUE=f"team-{uuid.uuid4().hex[:8]}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "team: team-core"
    runs = Store(url).list_runs()
    assert len(runs) == 1
    run = Store(url).get_run(runs[0].run_id)
    assert run is not None and run.status == "completed"
    assert run.inputs["_team"] == "team-core"
