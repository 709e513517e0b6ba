"""The workflow ids of a pinned v6 install, read at collection from its manifests (the test parameters)."""

from __future__ import annotations

import csv
from functools import cache

from tests.conftest import _v6_install


@cache
def v6_workflow_ids(version: str) -> tuple[str, ...]:
    """6.0: `_config/workflow-manifest.csv`; skills: `_config/skill-manifest.csv` without the agent skills."""
    root = _v6_install(version)
    if isinstance(root, str):
        return (f"unavailable: {root}",)  # the test fails with the reason
    config = root / "_bmad" / "_config"
    if (config / "skill-manifest.csv").is_file():
        with (config / "skill-manifest.csv").open(encoding="utf-8") as f:
            return tuple(sorted(r["canonicalId"] for r in csv.DictReader(f)
                                if not r["canonicalId"].startswith("bmad-agent-")))
    with (config / "workflow-manifest.csv").open(encoding="utf-8") as f:
        return tuple(sorted(r["name"] for r in csv.DictReader(f)))
