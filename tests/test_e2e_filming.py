"""End to end in real Chromium: a family on a phone, a practitioner on a laptop, one server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Page

from tests.conftest import PASSWORD, RunningServer
from tests.support.browser import (
    launch_browser,
    new_desktop_context,
    new_phone_context,
    wait_for_frame_numbers,
)
from tests.support.numbered_video import write_numbered_y4m
from vigremote.state import ROOMS


async def practitioner_logs_in(page: Page, server: RunningServer, username: str) -> None:
    await page.goto(f"{server.url}/app")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#cases-view:not([hidden])")


async def family_count(page: Page) -> int:
    return await page.locator("#participants li[data-role=family]").count()


async def test_family_on_phone_is_seen_live_and_again_after_reload(
    server: RunningServer, tmp_path: Path
) -> None:
    camera = tmp_path / "numbered.y4m"
    write_numbered_y4m(camera, frames=150, fps=15)
    owner = server.add_user("alice")
    created = server.new_session(owner, "Family A")

    async with launch_browser(camera) as browser:
        family_ctx = await new_phone_context(browser)
        desk_ctx = await new_desktop_context(browser)
        family = await family_ctx.new_page()
        practitioner = await desk_ctx.new_page()

        await practitioner_logs_in(practitioner, server, "alice")
        await practitioner.goto(f"{server.url}/app#live/{created['session']['id']}")
        await practitioner.wait_for_selector("#live-view:not([hidden])")

        await family.goto(created["family_link"])
        await family.click("#start")
        await family.wait_for_selector("#call-panel:not([hidden])")

        # The practitioner's big video plays the family's camera: live, increasing frames.
        numbers = await wait_for_frame_numbers(practitioner, "#family-video", count=4, timeout=30)
        assert numbers == sorted(numbers)
        await practitioner.wait_for_function(
            "document.querySelector('#family-state').dataset.state === 'connected'"
        )
        assert "connected" in (await family.text_content("#status") or "")
        # Filming mode: the practitioner's microphone and camera are off, and the family is told.
        await family.wait_for_function(
            "document.querySelector('#practitioner-media').dataset.muted === 'audio video'"
        )
        assert "cannot hear" in (await family.text_content("#practitioner-media") or "")

        # The family reloads the page: the practitioner sees them again, and only once.
        await family.reload()
        await family.click("#start")
        numbers_after = await wait_for_frame_numbers(
            practitioner, "#family-video", count=4, timeout=30
        )
        assert numbers_after
        await asyncio.sleep(1.0)
        assert await family_count(practitioner) == 1
        room = server.app[ROOMS].get(created["session"]["id"])
        assert room is not None
        assert [m.role for m in await room.members()].count("family") == 1
        # The family's camera reached the practitioner through one feed, as encoded frames,
        # from two successive connections of the family's page.
        video_feed = room.feed("family", "video")
        assert video_feed.generation == 2
        assert video_feed.frames_in > 10

        # The practitioner reloads too: back in the live view, watching, and listed once.
        await practitioner.reload()
        await practitioner.wait_for_selector("#live-view:not([hidden])")
        assert await wait_for_frame_numbers(practitioner, "#family-video", count=3, timeout=30)
        await asyncio.sleep(1.0)
        roles = [m.role for m in await room.members()]
        assert roles.count("practitioner") == 1 and roles.count("family") == 1
        await browser.close()
