"""`botarmy run` pins the model set where it runs: one it cannot use is refused with one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import OWN_BMAD, ROOT, subprocess_env


def test_run_with_a_model_setting_it_cannot_parse_exits_2_with_one_line_before_starting_anything(tmp_path: Path):
    env = subprocess_env(BOTARMY_MODEL="nonsense", BOTARMY_HOME_DIR=str(tmp_path / "home"),
                         DATABASE_URL=f"sqlite:///{tmp_path}/b.db")
    done = subprocess.run([sys.executable, "-m", "botarmy.cli", "run", "quick-fix", "--bmad-dir", str(OWN_BMAD)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines == ["error: BOTARMY_MODEL: model 'nonsense' is not understood; use 'offline', 'openai:<model>', "
                     "'anthropic:<model>' or 'gemini:<model>' (e.g. openai:gpt-4o-mini)"]
    assert not (tmp_path / "home").exists() and not (tmp_path / "b.db").exists()  # nothing was started
