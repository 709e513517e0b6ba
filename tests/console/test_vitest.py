"""The console's unit tests (Vitest, `npm test` in web/) as part of the Python suite, when Node.js is there."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

WEB = ROOT / "web"
pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="Node.js/npm not installed: no console tests")


def test_the_consoles_vitest_suite_passes():
    if not (WEB / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, capture_output=True, timeout=600)
    typecheck = subprocess.run(["npx", "tsc", "-b"], cwd=WEB, capture_output=True, text=True, timeout=600)
    assert typecheck.returncode == 0, typecheck.stdout + typecheck.stderr
    result = subprocess.run(["npm", "test", "--silent"], cwd=WEB, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "CI": "1"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
