"""End to end in real Chromium: the server is SIGKILLed mid-recording and restarted.

Both pages must stop claiming anything while it is down (no running timer, no "Recording"),
keep retrying, and be back in the call within seconds, showing what the new server says.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from playwright.async_api import Page

from tests.conftest import free_port
from tests.support.browser import (
    launch_browser,
    new_desktop_context,
    new_phone_context,
    wait_for_frame_numbers,
)
from tests.support.numbered_video import write_numbered_y4m
from tests.test_e2e_recording import Pages, give_consent
from tests.test_recording_durability import PASSWORD, cli, server_process

BACK_WITHIN_MS = 15_000


async def timer_is_still(page: Page) -> str:
    """The recording timer's text, after checking that it does not advance for a second."""
    before = await page.text_content("#rec-timer")
    await asyncio.sleep(1.1)
    after = await page.text_content("#rec-timer")
    assert before == after, f"the timer ran on while the server was down: {before} -> {after}"
    return after or ""


async def claims_no_recording(page: Page) -> None:
    assert await page.is_hidden("#rec-indicator")
    assert await page.get_attribute("#rec-indicator", "data-state") not in ("recording", "paused")


async def test_sigkill_and_restart_both_pages_come_back_showing_the_servers_state(
    tmp_path: Path,
) -> None:
    data, port = tmp_path / "data", free_port()
    camera = tmp_path / "numbered.y4m"
    write_numbered_y4m(camera, frames=150, fps=15)
    cli(data, "user", "add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    created = json.loads(cli(data, "session", "create", "--owner", "carol", "--case-label", "K"))
    base = f"http://127.0.0.1:{port}"
    family_link = f"{base}/f/{created['family_link'].rsplit('/', 1)[1]}"

    async with launch_browser(camera) as browser:
        family = await (await new_phone_context(browser)).new_page()
        practitioner = await (await new_desktop_context(browser)).new_page()
        pages = Pages(family, practitioner, created["session_id"])

        async with server_process(data, port) as process:
            await practitioner.goto(f"{base}/app")
            await practitioner.fill("input[name=username]", "carol")
            await practitioner.fill("input[name=password]", PASSWORD)
            await practitioner.click("#login-form button[type=submit]")
            await practitioner.wait_for_selector("#cases-view:not([hidden])")
            await practitioner.goto(f"{base}/app#live/{created['session_id']}")
            await family.goto(family_link)
            await family.click("#start")
            await practitioner.wait_for_function(
                "document.querySelector('#family-state').dataset.state === 'connected'"
            )
            await give_consent(pages)
            await practitioner.click("#rec-start")
            await family.wait_for_selector("#rec-indicator:not([hidden])")
            await practitioner.wait_for_selector("#rec-indicator:not([hidden])")

            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            # Down: both pages say so and claim no recording, and no timer runs.
            await family.wait_for_selector("#rec-indicator", state="hidden")
            await practitioner.wait_for_function(
                "document.querySelector('#live-state').dataset.state === 'reconnecting'"
            )
            for page in (family, practitioner):
                await claims_no_recording(page)
                await timer_is_still(page)
            assert "Reconnecting" in (await family.text_content("#status") or "")
            assert await family.is_hidden("#rec-pause")

        async with server_process(data, port):
            # Back in the call within seconds: frames flow again, the family is listed once.
            await practitioner.wait_for_function(
                "document.querySelector('#family-state').dataset.state === 'connected'",
                timeout=BACK_WITHIN_MS,
            )
            await wait_for_frame_numbers(practitioner, "#family-video", count=3, timeout=10)
            assert await practitioner.locator("#participants li[data-role=family]").count() == 1
            # The recording was interrupted: the new server says idle, and both pages show it.
            for page in (family, practitioner):
                await page.wait_for_function(
                    "document.querySelector('#rec-indicator').dataset.state === 'idle'"
                )
                await claims_no_recording(page)
            assert "Reconnecting" not in (await family.text_content("#status") or "")
            assert await practitioner.is_visible("#rec-start")
            # Leave before the server stops: it waits for open sockets on SIGTERM.
            await family.close()
            await practitioner.close()
