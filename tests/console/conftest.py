"""A real console in a real browser: the built web/dist, the API under uvicorn, the Temporal dev server, a worker,
and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

WEB = ROOT / "web"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="session")
def console_build() -> Path:
    """web/dist, built now when it is missing or older than the sources."""
    dist = WEB / "dist" / "index.html"
    newest = max(p.stat().st_mtime for p in (WEB / "src").rglob("*") if p.is_file())
    if not dist.is_file() or dist.stat().st_mtime < newest:
        if shutil.which("npm") is None:
            pytest.fail("the console tests need Node.js 20+ and npm to build web/: apt-get install -y nodejs npm")
        if not (WEB / "node_modules").is_dir():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=600)
        subprocess.run(["npm", "run", "build"], cwd=WEB, check=True, timeout=600, capture_output=True)
    return dist.parent


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's with `apt-get install -y chromium` "
                    "(the console tests never download a browser)")
    return str(CHROMIUM)


