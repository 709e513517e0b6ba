"""Sign in through an identity provider in headless Chromium: the Sign in page offers "Sign in with SSO" when the
API has a provider (a fake one on 127.0.0.1, testkit/fakes/idp.py); the browser follows the real redirects to its
authorize endpoint and back, and lands in the console signed in as the ID token's user with its roles."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright, expect

from api.main import create_app
from botarmy.settings import Settings
from testkit.fakes.idp import FakeIdp
from tests.api.conftest import served
from tests.conftest import free_port
from tests.console.conftest import LAUNCH_ARGS
from tests.console.test_browser import TIMEOUT_MS, shot


async def test_sign_in_with_sso_goes_through_the_identity_provider_and_back(
    settings: Settings, bmad_dir: Path, console_build: Path, chromium: str,
):
    idp = FakeIdp(user="carol", roles=["approver"]).start()
    try:
        configured = settings.model_copy(update={
            "temporal_address": f"127.0.0.1:{free_port()}",  # no run is started here
            "oidc_issuer": idp.issuer, "oidc_client_id": idp.client_id, "oidc_client_secret": idp.client_secret})
        async with served(create_app(configured, [bmad_dir])) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(base + "/")
            sso = page.get_by_role("button", name="Sign in with SSO")
            await expect(sso).to_be_visible()
            await expect(page.get_by_role("textbox", name="Token")).to_be_visible()  # tokens still work
            await shot(page, "sign-in-sso")
            await sso.click()
            await expect(page.get_by_role("heading", name="Runs")).to_be_visible()
            await expect(page.get_by_test_id("whoami")).to_have_text("carol (approver)")
            assert page.url.startswith(base)
            assert idp.exchanged, "the code was never exchanged at the provider"
            cookies = {c["name"]: c for c in await page.context.cookies(base)}
            assert cookies["botarmy_session"]["httpOnly"] and cookies["botarmy_session"]["sameSite"] == "Strict"
            assert "botarmy_oidc" not in cookies  # the sign-in's state is spent
            # signing out comes back to the Sign in page, SSO still offered
            await page.get_by_role("button", name="Sign out").click()
            await expect(sso).to_be_visible()
            await browser.close()
    finally:
        idp.stop()
