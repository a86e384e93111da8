"""The practitioner's filming screen and case page on a 1280x720 laptop, in real Chromium.

The family is a simulated (aiortc) phone: what is checked is the practitioner's page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page

from tests.conftest import RunningServer
from tests.recording_helpers import media
from tests.support.browser import inside_viewport, launch_browser
from tests.support.publisher import SimulatedFamily
from tests.test_e2e_filming import practitioner_logs_in
from tests.test_revocation import hello
from vigremote.state import CONSENT_WORDING

LAPTOP = {"width": 1280, "height": 720}
SHOTS = Path("/tmp/ux-shots")


@dataclass
class Live:
    page: Page
    family: SimulatedFamily
    created: dict[str, Any]


@asynccontextmanager
async def live_view(server: RunningServer, consent: bool = True) -> AsyncIterator[Live]:
    owner = server.add_user("alice")
    created = server.new_session(owner)
    family = SimulatedFamily(server.ws_url, created["token"], media())
    async with launch_browser() as browser:
        context = await browser.new_context(viewport=LAPTOP, bypass_csp=True)
        page = await context.new_page()
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/app#live/{created['session']['id']}")
        await page.wait_for_selector("#live-view:not([hidden])")
        await family.join()
        try:
            if consent:
                version = server.app[CONSENT_WORDING]["version"]
                await family.send({"type": "consent", "version": version, "purposes": ["analysis"]})
                await page.wait_for_selector("#rec-start:not([disabled])", timeout=20000)
            yield Live(page, family, created)
        finally:
            await family.close()


async def test_end_session_and_camera_controls_fit_a_laptop_screen(server: RunningServer) -> None:
    async with live_view(server) as live:
        await asyncio.to_thread(SHOTS.mkdir, exist_ok=True)
        await live.page.screenshot(path=str(SHOTS / "practitioner-live-1280x720.png"))
        for selector in (
            "#end-session",
            "#toggle-camera",
            "#toggle-mic",
            "#rec-start",
            "#bookmark",
        ):
            assert await inside_viewport(live.page, selector), selector
        # Plain words, not "Media: connected".
        assert "Media:" not in (await live.page.text_content(".live-top") or "")


async def test_record_and_pause_keep_apart_and_a_double_click_does_not_pause(
    server: RunningServer,
) -> None:
    async with live_view(server) as live:
        page = live.page
        start = await page.locator("#rec-start").bounding_box()
        await page.dblclick("#rec-start")
        await page.wait_for_selector("#rec-indicator:not([hidden])")
        await asyncio.sleep(1.0)  # a late second command would have arrived by now
        assert await page.get_attribute("#rec-indicator", "data-state") == "recording"
        pause = await page.locator("#rec-pause").bounding_box()
        assert start is not None and pause is not None
        overlap_x = min(start["x"] + start["width"], pause["x"] + pause["width"]) - max(
            start["x"], pause["x"]
        )
        overlap_y = min(start["y"] + start["height"], pause["y"] + pause["height"]) - max(
            start["y"], pause["y"]
        )
        assert overlap_x <= 0 or overlap_y <= 0, (start, pause)
        # Keyboard: P pauses, P resumes, B marks a moment (and says so, briefly).
        await page.keyboard.press("p")
        await page.wait_for_function(
            "document.querySelector('#rec-indicator').dataset.state === 'paused'"
        )
        await page.keyboard.press("p")
        await page.wait_for_function(
            "document.querySelector('#rec-indicator').dataset.state === 'recording'"
        )
        await page.keyboard.press("b")
        await page.wait_for_selector("#message:not([hidden])")
        assert "Moment marked" in (await page.text_content("#message") or "")
        # The message does not stay for ever.
        await page.wait_for_selector("#message", state="hidden", timeout=8000)
        # R stops; then the recording can be opened for analysis from here.
        await page.keyboard.press("r")
        await page.wait_for_selector("#after-stop:not([hidden])")
        href = await page.get_attribute("#analyse-link", "href") or ""
        assert href.startswith("/analysis/")
        await page.click("#analyse-link")
        await page.wait_for_url(f"{server.url}{href}")


async def test_the_reason_record_is_off_is_written_out(server: RunningServer) -> None:
    async with live_view(server, consent=False) as live:
        await live.page.wait_for_function(
            "document.querySelector('#family-state').dataset.state === 'connected'"
        )
        assert await live.page.is_disabled("#rec-start")
        reason = live.page.locator("#rec-reason")
        assert await reason.is_visible()
        assert "agrees to recording" in (await reason.text_content() or "")


async def test_the_family_leaving_mid_recording_is_said_plainly(server: RunningServer) -> None:
    async with live_view(server) as live:
        page = live.page
        await page.click("#rec-start")
        await page.wait_for_selector("#rec-indicator:not([hidden])")
        await live.family.close()
        await page.wait_for_selector("#family-alert:not([hidden])")
        assert "left" in (await page.text_content("#family-alert") or "")
        assert await page.is_visible("#stage-note")
        assert "left" in (await page.text_content("#stage-note") or "")
        assert await page.get_attribute("#family-state", "data-state") == "left"
        await asyncio.to_thread(SHOTS.mkdir, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "practitioner-family-left-1280x720.png"))


async def test_end_session_returns_to_the_case_page(server: RunningServer) -> None:
    async with live_view(server, consent=False) as live:
        await live.page.click("#end-session")
        await live.page.wait_for_selector("#case-view:not([hidden])")
        assert await live.page.is_hidden("#live-view")
        assert live.page.url.endswith(f"#case/{live.created['case_id']}")
        assert "ended" in (await live.page.text_content("#message") or "")


async def test_the_family_link_is_got_again_as_qr_and_short_code(server: RunningServer) -> None:
    owner = server.add_user("alice")
    created = server.new_session(owner)
    async with launch_browser() as browser:
        context = await browser.new_context(viewport=LAPTOP, bypass_csp=True)
        page = await context.new_page()
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/app#case/{created['case_id']}")
        await page.click("#sessions button.family-link")
        await page.wait_for_selector("#new-link:not([hidden])")
        assert "stops working" in (await page.text_content("#new-link") or "")
        await page.wait_for_function(
            "document.querySelector('#family-qr').complete && "
            "document.querySelector('#family-qr').naturalWidth > 0"
        )
        await asyncio.to_thread(SHOTS.mkdir, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "practitioner-case-link-1280x720.png"))
        short = (await page.text_content("#family-short") or "").strip()
        full = await page.input_value("#family-link")
        assert short.startswith(f"{server.url}/j/") and len(short.rsplit("/", 1)[1]) == 8
        async with aiohttp.ClientSession() as http, http.get(short, allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == full
        assert await hello(server, full.rsplit("/", 1)[1]) == (None, "")
        code, _ = await hello(server, created["token"])
        assert code == 1008
        # The favicon every page links to is there.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/static/favicon.svg") as response:
                assert response.status == 200
                assert response.content_type == "image/svg+xml"
        icon = await page.get_attribute("link[rel=icon]", "href")
        assert icon == "/static/favicon.svg"
