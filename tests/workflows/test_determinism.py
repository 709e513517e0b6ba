"""Workflow code stays deterministic: no clocks, randomness, environment or I/O in `workflows/`.

The worker runs workflows unsandboxed by default, and even in Temporal's sandbox `workflows` and `bmad` are passed
through (see `worker.workflow_runner`), so nothing checks them at run time; this scan of their source, and the
replay tests, do.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.py"))

# dotted call/attribute names that read a clock, draw randomness, read the environment or do I/O
FORBIDDEN = {
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today", "time.time", "time.time_ns",
    "time.monotonic", "time.perf_counter", "time.sleep", "uuid.uuid1", "uuid.uuid4", "os.environ", "os.getenv",
    "open", "print", "input",
}
FORBIDDEN_PREFIXES = ("random.", "secrets.", "subprocess.", "socket.", "threading.", "requests.", "httpx.")
# packages that do I/O: workflow code reaches them only through activities
FORBIDDEN_IMPORTS = {"store", "activities", "providers", "api", "botarmy", "sqlalchemy", "redis", "httpx", "openai",
                     "random", "secrets", "subprocess", "socket", "threading", "requests", "autogen_agentchat",
                     "autogen_core", "autogen_ext"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def problems(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{name}:{node.lineno}: imports {m}" for m in modules if m.split(".")[0] in FORBIDDEN_IMPORTS]
        elif isinstance(node, ast.Attribute | ast.Name):
            dotted = _dotted(node)
            if dotted and (dotted in FORBIDDEN or dotted.startswith(FORBIDDEN_PREFIXES)):
                found.append(f"{name}:{node.lineno}: uses {dotted}")
    return found


def test_the_scan_sees_workflow_code():
    assert {p.name for p in WORKFLOW_FILES} >= {"run.py", "interpreter.py", "approvals.py", "contracts.py"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.name for p in WORKFLOW_FILES])
def test_workflow_code_has_no_clocks_randomness_or_io(path: Path):
    assert problems(path.read_text(), path.name) == []


@pytest.mark.parametrize("snippet", [
    "from datetime import datetime\nx = datetime.now()",
    "import time\ntime.sleep(1)",
    "import random\nrandom.random()",
    "import uuid\nuuid.uuid4()",
    "import os\nos.environ['X']",
    "from store import Store",
    "open('f')",
])
def test_the_scan_catches_each_kind(snippet: str):
    assert problems(snippet, "x.py"), snippet
