"""The console end to end in headless Chromium against a real API, Temporal dev server and worker: start a run
from the New run form, watch its steps go live, reject a document with a comment, see version 2 carry the
feedback, compare the versions, approve to completion. Each page is saved to docs/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

from api.main import create_app
from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from tests.api.conftest import make_token, served
from tests.conftest import running_worker
from tests.console.conftest import LAUNCH_ARGS, SCREENSHOTS

TIMEOUT_MS = 60_000


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def signed_in(browser: Browser, base: str, token: str, screenshot: str | None = None) -> Page:
    """A page of a new browser context (its own cookies) signed in with `token` through the Sign in page."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(base + "/")
    await page.get_by_role("textbox", name="Token").fill(token)
    if screenshot:
        await shot(page, screenshot)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    return page


async def test_a_run_started_in_the_console_is_rejected_revised_compared_and_approved_to_completion(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str, console_build: Path, chromium: str,
):
    temporal = await connect(live_settings.temporal_address)
    app = create_app(live_settings, [bmad_dir])
    async with running_worker(temporal, live_settings, Store(sqlite_url)), served(app) as base, \
            async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        page = await signed_in(browser, base, make_token(live_settings, "admin", user="ada"), "sign-in")
        await expect(page.get_by_test_id("whoami")).to_have_text("ada (admin)")

        # New run: the form comes from the workflow's run inputs
        await page.get_by_role("link", name="New run").first.click()
        await page.get_by_role("combobox", name="Workflow").select_option("quick-fix")
        await expect(page.get_by_role("textbox", name="project_name")).to_be_visible()
        await page.get_by_role("textbox", name="project_name").fill("Lunch Orders")
        await page.get_by_role("checkbox", name="Approve pm").check()
        await shot(page, "new-run")
        await page.get_by_role("button", name="Start run").click()

        # the run page: steps go live and the run waits for the PRD's approval
        await expect(page).to_have_url(re.compile(r"#/runs/[^/]+$"))
        run_id = page.url.rsplit("/", 1)[1]
        await expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
        await expect(page.get_by_test_id("step").first).to_have_attribute("data-status", "completed")
        await expect(page.get_by_role("link", name="decide in Approvals")).to_be_visible()
        await expect(page.get_by_role("link", name="Open in Temporal Web UI")).to_have_attribute(
            "href", re.compile(rf"/workflows/bmad-quick-fix-{run_id}$"))
        await shot(page, "run-waiting")

        # the inbox: the document beside the controls; reject with a comment
        await page.get_by_role("link", name="decide in Approvals").click()
        review = page.get_by_role("article", name="Document to review")
        await expect(review.get_by_role("heading").first).to_be_visible()
        await expect(review).to_contain_text("version 1")
        await shot(page, "approvals")
        await page.get_by_role("textbox", name="Comment").fill("Add a section on lunch delivery times.")
        await page.get_by_role("button", name="Reject").click()

        # version 2 comes back with the feedback in it
        await expect(review).to_contain_text("version 2")
        await expect(review).to_contain_text("Revised after reviewer feedback: Add a section on lunch delivery times")

        # a viewer sees the same inbox with the document, and no enabled decision button
        viewer = await signed_in(browser, base, make_token(live_settings, "viewer", user="vic"))
        await viewer.goto(f"{base}/#/approvals?run={run_id}")
        await expect(viewer.get_by_role("article", name="Document to review")).to_contain_text("version 2")
        for name in ("Approve", "Reject", "Amend", "Approve selected"):
            await expect(viewer.get_by_role("button", name=name, exact=True)).to_be_disabled()
        await expect(viewer.get_by_role("textbox", name="Comment")).to_be_disabled()
        await shot(viewer, "approvals-viewer")
        await viewer.context.close()

        # the document page: both versions and a diff between them
        await page.goto(f"{base}/#/runs/{run_id}/documents/prd.md")
        await expect(page.get_by_role("button", name="Version 2")).to_be_visible()
        await expect(page.get_by_role("article", name="Document")).to_contain_text("Revised after reviewer feedback")
        await expect(page.get_by_role("link", name="Download")).to_have_attribute(
            "href", f"/runs/{run_id}/artifacts/prd.md/versions/2/raw")
        await shot(page, "document")
        await page.get_by_role("combobox", name="From version").select_option("1")
        await page.get_by_role("combobox", name="To version").select_option("2")
        await page.get_by_role("button", name="Compare").click()
        diff = page.get_by_role("region", name="Diff")
        await expect(diff).to_contain_text("Version 1 → version 2")
        await expect(diff.locator(".diff-add").filter(has_text="Revised after reviewer feedback")).to_have_count(1)
        await shot(page, "document-diff")

        # approve version 2; the run completes
        await page.goto(f"{base}/#/approvals?run={run_id}")
        await expect(page.get_by_role("article", name="Document to review")).to_contain_text("version 2")
        await page.get_by_role("button", name="Approve", exact=True).click()
        await expect(page.get_by_role("status")).to_have_text("approve sent")
        await page.goto(f"{base}/#/runs/{run_id}")
        summary = page.locator("p").filter(has_text="quick-fix")
        await expect(summary.get_by_text("completed", exact=True)).to_be_visible()
        decisions = page.get_by_role("region", name="Decisions")
        await expect(decisions).to_contain_text("reject")
        await expect(decisions).to_contain_text("Add a section on lunch delivery times.")
        await expect(decisions).to_contain_text("approve")
        await shot(page, "run-completed")

        await page.goto(f"{base}/#/runs")
        await expect(page.get_by_role("link", name=run_id)).to_be_visible()
        await shot(page, "runs")
        await page.goto(f"{base}/#/usage")
        await expect(page.get_by_role("heading", name="Usage")).to_be_visible()
        await expect(page.get_by_role("img", name="Tokens per day")).to_be_visible()
        await shot(page, "usage")
        await page.goto(f"{base}/#/audit")
        audit = page.get_by_role("table", name="Audit log")
        await expect(audit).to_contain_text("ada")
        await expect(audit).to_contain_text("vic")  # the viewer's sign-in
        await shot(page, "audit")
        await browser.close()


async def test_rerun_from_here_on_a_step_starts_a_linked_run_that_completes(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str, console_build: Path, chromium: str,
):
    from tests.api.conftest import api_client
    from tests.api.test_runs_e2e import wait_for_status

    temporal = await connect(live_settings.temporal_address)
    app = create_app(live_settings, [bmad_dir])
    async with running_worker(temporal, live_settings, Store(sqlite_url)), served(app) as base, \
            api_client(live_settings, [bmad_dir], "operator") as (_, client), async_playwright() as pw:
        parent = (await client.post("/runs", json={"workflow": "quick-fix"})).json()["run_id"]
        assert (await wait_for_status(client, parent, {"completed", "failed"}))["status"] == "completed"
        browser = await pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        page = await signed_in(browser, base, make_token(live_settings, "operator", user="olga"))
        await page.goto(f"{base}/#/runs/{parent}")
        third = page.get_by_test_id("step").nth(2)
        await third.get_by_role("button", name="Rerun from here").click()
        await page.get_by_role("button", name="Start rerun").click()
        await expect(page).not_to_have_url(re.compile(rf"#/runs/{parent}$"))
        child = page.url.rsplit("/", 1)[1]
        await expect(page.get_by_role("heading", name=f"Run {child}")).to_be_visible()
        await expect(page.get_by_text("Rerun of")).to_contain_text(parent)
        summary = page.locator("p").filter(has_text="quick-fix")
        await expect(summary.get_by_text("completed", exact=True)).to_be_visible()
        await shot(page, "run-rerun")
        await browser.close()
    view = Store(sqlite_url).get_run(child)
    assert view is not None and (view.parent_run_id, view.status) == (parent, "completed")
