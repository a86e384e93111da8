"""End to end in three Chromium browsers: the server plays a clip; pause, seek and step show
exactly the chosen frame on the family's phone, the practitioner's laptop and an observer's."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page

from tests.conftest import RunningServer
from tests.review_helpers import review_for_three
from tests.support.browser import (
    launch_browser,
    new_desktop_context,
    new_phone_context,
    read_video_frame_number,
)
from tests.test_e2e_filming import practitioner_logs_in


async def all_show(pages: list[Page], expected: int, timeout: float = 5.0) -> None:
    """Every page's clip video shows frame `expected` (read from the pixels)."""
    seen: list[int | None] = []
    for _ in range(int(timeout / 0.05)):
        seen = [await read_video_frame_number(p, "#clip-video") for p in pages]
        if all(n == expected for n in seen):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"pages show {seen}, expected {expected}")


async def state_frame(page: Page) -> int:
    await asyncio.sleep(0.3)  # let the state message that follows the command arrive
    return int(await page.get_attribute("#review-frame", "data-frame") or -1)


async def test_everyone_sees_the_same_frame(server: RunningServer) -> None:
    opened = await review_for_three(server, [(75, 200)])
    created, session_id, observer_token = opened.created, opened.session_id, opened.observer_token
    first = opened.clips[0]["first_frame"]

    async with launch_browser() as browser:
        practitioner = await (await new_desktop_context(browser)).new_page()
        family = await (await new_phone_context(browser)).new_page()
        observer = await (await new_desktop_context(browser)).new_page()
        family_requests: list[str] = []
        family.on("request", lambda request: family_requests.append(request.url))

        await practitioner_logs_in(practitioner, server, "alice")
        await practitioner.goto(f"{server.url}/review/{session_id}")
        await family.goto(created["family_link"])
        await family.click("#start")
        await observer.goto(f"{server.url}/f/{observer_token}")
        await observer.click("#start")
        pages = [practitioner, family, observer]

        # The clip is the big picture on the family's phone, paused on its first frame.
        assert await family.is_visible("#clip-video")
        # The practitioner's badge is in plain words, not WebRTC's ("Media: connected").
        await practitioner.wait_for_function(
            "document.querySelector('#live-state').textContent === 'Video connected'"
        )
        await all_show(pages, first, timeout=15)

        await practitioner.click("#play")
        await family.wait_for_function(
            "document.querySelector('#review-state').dataset.state === 'playing'"
        )
        await asyncio.sleep(1.2)
        await practitioner.click("#play")  # pause
        paused = await state_frame(practitioner)
        assert 10 <= paused <= 60
        await all_show(pages, first + paused)
        assert "Paused" in (await family.text_content("#review-state") or "")

        # Scrub to a frame off a keyframe, then step either way.
        await practitioner.eval_on_selector(
            "#scrub", "el => { el.value = '47'; el.dispatchEvent(new Event('change')); }"
        )
        assert await state_frame(practitioner) == 47
        await all_show(pages, first + 47)
        await practitioner.click("#step-forward")
        assert await state_frame(practitioner) == 48
        await all_show(pages, first + 48)
        await practitioner.click("#step-back")
        await practitioner.click("#step-back")
        assert await state_frame(practitioner) == 46
        await all_show(pages, first + 46)

        # The family's phone never fetched a clip file or URL: the clip came as video. (Its one
        # API call is its own link's consent page: /api/family/consent.)
        fetched = [u for u in family_requests if "/api/" in u or ".webm" in u or ".mkv" in u]
        own = f"{server.url}/api/family/consent"  # with ?language=, the wording's
        assert not [u for u in fetched if u.split("?")[0] != own], fetched
        await browser.close()
