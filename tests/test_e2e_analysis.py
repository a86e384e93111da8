"""End to end in Chromium: open a recording, step to an exact frame, cut a clip, list it."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page

from tests.conftest import RunningServer
from tests.support.browser import launch_browser, new_desktop_context, read_video_frame_number
from tests.support.recordings import seed_recording
from tests.test_e2e_filming import practitioner_logs_in
from tests.test_recording import decoded_numbers
from vigremote.paths import case_dir
from vigremote.state import CLIPS, VAULT


async def shown_frame(page: Page) -> int | None:
    """The frame number drawn in the video's pixels, once the page has settled on it."""
    for _ in range(40):
        await asyncio.sleep(0.05)
        read = await read_video_frame_number(page, "#analysis-video")
        label = int(await page.get_attribute("#frame-number", "data-frame") or -1)
        if read == label:
            return read
    return await read_video_frame_number(page, "#analysis-video")


async def test_step_to_exact_frames_cut_a_clip_and_find_it(server: RunningServer) -> None:
    owner = server.add_user("alice")
    recording = seed_recording(server, owner)
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/analysis/{recording.id}")
        await page.wait_for_function("document.querySelector('#frame-count').textContent === '300'")
        assert await shown_frame(page) == 0

        # The bookmark made during filming (2.5 s) is one key press away.
        await page.keyboard.press("]")
        assert await shown_frame(page) == 75
        await page.click("#set-in")
        # Step one frame at a time, forward and back, across a keyframe (frame 120).
        for _ in range(50):
            await page.keyboard.press("ArrowRight")
        await page.keyboard.press("ArrowLeft")
        assert await shown_frame(page) == 124
        await page.keyboard.press("ArrowLeft")
        assert await shown_frame(page) == 123
        await page.keyboard.press("o")
        # Single steps land on exactly the next frame, across the keyframe at 120.
        for _ in range(5):
            await page.keyboard.press("ArrowLeft")
        for expected in (119, 120, 121, 122):
            await page.keyboard.press("ArrowRight")
            assert await shown_frame(page) == expected
        # Slow playback, then pause: the page settles on an exact frame it names correctly.
        await page.keyboard.press("1")
        await page.keyboard.press(" ")
        await asyncio.sleep(1.0)
        await page.keyboard.press(" ")
        settled = await shown_frame(page)
        assert settled is not None and 123 <= settled <= 140
        await page.fill("#clip-form input[name=title]", "She looks up")
        await page.check("#tags input[value='Receiving initiatives']")
        await page.click("#cut")
        await page.wait_for_selector("#message:not([hidden])")
        assert "saved" in (await page.text_content("#message") or "")

        await page.goto(f"{server.url}/app#case/{recording.case_id}")
        row = page.locator("#clips tbody tr", has_text="She looks up")
        await row.wait_for()
        assert "Receiving initiatives" in (await row.text_content() or "")
        await browser.close()

    [clip] = server.app[CLIPS].clips_of(recording.case_id)
    assert (clip.first_frame, clip.last_frame) == (75, 123)
    clip_file = case_dir(server.config.data_dir, clip.case_id) / "clips" / clip.file_name
    with server.app[VAULT].open(clip_file) as sealed:
        numbers, _ = decoded_numbers(sealed)
    assert numbers == list(range(75, 124))
