"""`botarmy artifacts RUN --out DIR` writes the latest version of each artifact, read from the database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from store import Store
from tests.conftest import subprocess_env


def test_out_writes_the_latest_version_of_each_artifact(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/botarmy.db"
    store = Store(url)
    store.save_plan("h", "quick-fix", "{}")
    store.create_run("r-1", "quick-fix", "bmad-quick-fix-r-1", "h", {})
    store.put_artifact("r-1", "prd.md", b"# PRD v1\n", "01-pm-prd")
    store.put_artifact("r-1", "prd.md", b"# PRD v2\n", "01-pm-prd@r1")
    store.put_artifact("r-1", "epic-1/story.md", b"# Story\n", "02-sm-story[1]")
    store.close()

    done = subprocess.run([sys.executable, "-m", "botarmy.cli", "artifacts", "r-1", "--out", str(tmp_path / "out")],
                          cwd=tmp_path, env=subprocess_env(DATABASE_URL=url), capture_output=True, text=True,
                          timeout=120)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "prd.md").read_bytes() == b"# PRD v2\n"
    assert (tmp_path / "out" / "epic-1" / "story.md").read_bytes() == b"# Story\n"
    assert "wrote" in done.stdout and "(v2, 9 B)" in done.stdout
