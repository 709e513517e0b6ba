"""The inbox's other decisions in headless Chromium against a real API, Temporal dev server and worker: Amend (the
editor is prefilled with the document, the saved text becomes its next version), a condition question answered Yes
in one run and No in another (the conditional step runs or is skipped), and bulk approve of two waiting steps of
two runs at once."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright, expect

from api.main import create_app
from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from tests.api.conftest import bearer, make_token, served
from tests.conftest import running_worker
from tests.console.conftest import LAUNCH_ARGS
from tests.console.test_browser import shot, signed_in

CONDITION = "architecture_suggests_prd_changes"
NOTE = "## Reviewer note\n\nAmended in the console: every ledger entry is kept for seven years.\n"


async def open_inbox(page: Page, base: str, run_id: str | None = None) -> None:
    await page.goto(f"{base}/#/approvals" + (f"?run={run_id}" if run_id else ""))
    await expect(page.get_by_role("heading", name="Approvals")).to_be_visible()


async def completed(page: Page, base: str, run_id: str, workflow: str) -> None:
    await page.goto(f"{base}/#/runs/{run_id}")
    summary = page.locator("p").filter(has_text=workflow)
    await expect(summary.get_by_text("completed", exact=True)).to_be_visible()


async def test_amend_a_condition_answered_yes_and_no_and_a_bulk_approval_decide_runs_in_the_console(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str, console_build: Path, chromium: str,
):
    temporal = await connect(live_settings.temporal_address)
    app = create_app(live_settings, [bmad_dir])
    token = make_token(live_settings, "admin", user="ada")
    async with running_worker(temporal, live_settings, Store(sqlite_url)), served(app) as base, \
            httpx.AsyncClient(base_url=base, headers=bearer(token), timeout=30) as api, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        page = await signed_in(browser, base, token)

        # run A from the form: the architect's document waits for approval, then the condition is asked
        await page.get_by_role("link", name="New run").first.click()
        await page.get_by_role("combobox", name="Workflow").select_option("greenfield-service")
        await page.get_by_role("textbox", name="project_name").fill("Ledger")
        await page.get_by_role("checkbox", name="Approve architect").check()
        await page.get_by_role("button", name="Start run").click()
        await expect(page).to_have_url(re.compile(r"#/runs/[^/]+$"))
        run_a = page.url.rsplit("/", 1)[1]
        # run D asks the same condition (approvals are on for qa); run B waits for its PRD
        started = [await api.post("/runs", json=body) for body in (
            {"workflow": "greenfield-service", "inputs": {"project_name": "Payroll"}, "approve": ["qa"]},
            {"workflow": "quick-fix", "inputs": {"project_name": "Lunch Orders"}, "approve": ["pm"]})]
        assert all(r.status_code == 201 for r in started), [r.text for r in started]
        run_d, run_b = (r.json()["run_id"] for r in started)

        # Amend: the editor holds version 1 exactly; what is saved becomes version 2
        await open_inbox(page, base, run_a)
        review = page.get_by_role("article", name="Document to review")
        await expect(review).to_contain_text("architecture.md version 1")
        raw = await api.get(f"/runs/{run_a}/artifacts/architecture.md/versions/1/raw")
        assert raw.status_code == 200 and raw.text.strip()
        await page.get_by_role("button", name="Amend", exact=True).click()
        editor = page.get_by_role("textbox", name="Document", exact=True)
        await expect(editor).to_have_value(raw.text)
        amended = raw.text.rstrip("\n") + "\n\n" + NOTE
        await editor.fill(amended)
        await shot(page, "approvals-amend")
        await page.get_by_role("button", name="Save amendment").click()
        await expect(page.get_by_role("status")).to_have_text("amend sent")

        # the condition comes next in run A: Yes
        await expect(review).to_contain_text(CONDITION)
        await shot(page, "approvals-condition")
        await page.get_by_role("button", name="Yes", exact=True).click()
        await expect(page.get_by_role("status")).to_have_text("yes sent")

        # run D: No
        await open_inbox(page, base, run_d)
        await expect(review).to_contain_text(CONDITION)
        await page.get_by_role("button", name="No", exact=True).click()
        await expect(page.get_by_role("status")).to_have_text("no sent")

        # bulk: run D's QA review and run B's PRD, both waiting, approved at once
        await open_inbox(page, base)
        for run_id in (run_d, run_b):
            await page.get_by_role("checkbox", name=re.compile(rf" of {run_id}$")).check()
        await shot(page, "approvals-bulk")
        await page.get_by_role("button", name="Approve selected").click()
        await expect(page.get_by_role("status")).to_have_text("2 approved")
        await expect(page.get_by_text("Nothing waits for a decision.")).to_be_visible()

        for run_id, workflow in ((run_a, "greenfield-service"), (run_d, "greenfield-service"),
                                 (run_b, "quick-fix")):
            await completed(page, base, run_id, workflow)
        decisions = page.get_by_role("region", name="Decisions")
        await expect(decisions).to_contain_text("approve")
        await expect(decisions).to_contain_text("ada")

        # what the decisions did: A's architecture is the amended text and its PRD was revised (Yes); D's was not
        version_2 = await api.get(f"/runs/{run_a}/artifacts/architecture.md/versions/2/raw")
        assert version_2.status_code == 200 and version_2.text.rstrip("\n") == amended.rstrip("\n")
        await page.goto(f"{base}/#/runs/{run_a}/documents/architecture.md")
        await expect(page.get_by_role("article", name="Document")).to_contain_text("Amended in the console")
        prd_versions = {run_id: len((await api.get(f"/runs/{run_id}/artifacts/prd.md")).json()["versions"])
                        for run_id in (run_a, run_d)}
        assert prd_versions == {run_a: 2, run_d: 1}
        records = {run_id: (await api.get(f"/runs/{run_id}")).json()["decisions"] for run_id in (run_a, run_d, run_b)}
        # the people's decisions, and the interpreter's record of what each condition came to
        decided = {run_id: [(d["decision"], d["by"]) for d in rs if "decision" in d] for run_id, rs in records.items()}
        conditions = {run_id: [(d["condition"], d["value"], d["source"]) for d in rs if "condition" in d]
                      for run_id, rs in records.items()}
        assert decided == {run_a: [("amend", "ada"), ("yes", "ada")], run_d: [("no", "ada"), ("approve", "ada")],
                           run_b: [("approve", "ada")]}, decided
        assert conditions[run_a] == [(CONDITION, True, "decided by ada")]
        assert conditions[run_d] == [(CONDITION, False, "decided by ada")]
        # the Run page shows the condition's outcome too, not an empty row
        await page.goto(f"{base}/#/runs/{run_d}")
        await expect(page.get_by_role("region", name="Decisions")).to_contain_text(f"{CONDITION}: no")
        await browser.close()

