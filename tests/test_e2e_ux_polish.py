"""Layout and wording the UX review asked for, measured in real Chromium.

- Shared review at 1280x720 with both cameras on: the clip and every control stay on screen (the
  faces sit small, side by side); recording and ending look and sit apart.
- Live filming: Record, Pause/Resume and Stop keep exactly their places in every recording state,
  and nothing below them moves.
- The family's screens say what is true now: no "Paused: look at this moment together" and no
  "can now record" while the practitioner is not in the call; a disabled "Pause here" is legible.
- Case page: the actions of a recording or clip keep at least 8 px apart, Delete set off in its
  own style.
- Micro-analysis at 1280x720: bookmarks, in and out, the clip's form and "Cut clip" need no
  scrolling; the Title field says it is needed.

Screenshots go to /tmp/ux-shots/polish-*.png.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from tests.conftest import RunningServer
from tests.review_helpers import make_clips
from tests.support.browser import (
    inside_viewport,
    launch_browser,
    new_desktop_context,
    new_phone_context,
)
from tests.support.publisher import SimulatedFamily
from tests.support.recordings import seed_recording
from tests.test_e2e_consent import review_link
from tests.test_e2e_filming import practitioner_logs_in
from tests.test_e2e_practitioner_ux import LAPTOP, live_view
from tests.test_e2e_review_layout import review
from vigremote.state import CONSENT_WORDING

SHOTS = Path("/tmp/ux-shots")
MIN_GAP_PX = 8
AA_CONTRAST = 4.5

# The boxes of the elements matched by `selector` (left, top, right, bottom).
RECTS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((e) => e.getBoundingClientRect().width > 0)
  .map((e) => { const r = e.getBoundingClientRect();
                return [r.left, r.top, r.right, r.bottom, e.textContent.trim()]; })"""

# Contrast of an element's text on its own background (its own opacity blended on white).
CONTRAST = """(selector) => {
  const e = document.querySelector(selector);
  const s = getComputedStyle(e);
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const alpha = parseFloat(s.opacity);
  const onWhite = (c) => c.map((v) => v * alpha + 255 * (1 - alpha));
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const a = lum(onWhite(rgb(s.color))), b = lum(onWhite(rgb(s.backgroundColor)));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


async def shot(page: Page, name: str) -> None:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"polish-{name}.png"))


async def rects(page: Page, selector: str) -> list[list[Any]]:
    found: list[list[Any]] = await page.evaluate(RECTS, selector)
    return found


def gaps(boxes: list[list[Any]]) -> list[tuple[str, str, float]]:
    """The space between every two boxes: beside each other, or one above the other."""
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            side_by_side = min(a[3], b[3]) - max(a[1], b[1]) > 0
            gap = max(b[0] - a[2], a[0] - b[2]) if side_by_side else max(b[1] - a[3], a[1] - b[3])
            found.append((a[4], b[4], gap))
    return found


async def background(page: Page, selector: str) -> str:
    colour: str = await page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")
    return colour


async def test_review_with_both_cameras_keeps_clip_and_controls_on_a_laptop_screen(
    server: RunningServer,
) -> None:
    session_id, family_link = await review(server)
    async with launch_browser() as browser:
        practitioner = await (await new_desktop_context(browser)).new_page()
        await practitioner.set_viewport_size(LAPTOP)
        family = await (await new_phone_context(browser)).new_page()
        await practitioner_logs_in(practitioner, server, "alice")
        await practitioner.goto(f"{server.url}/review/{session_id}")
        await practitioner.wait_for_function(
            "document.querySelector('#live-state').dataset.state === 'connected'"
        )
        # The family's badge, before the family comes and once they are here (checked last).
        badges = [await practitioner.text_content("#family-state") or ""]
        await family.goto(family_link)
        await family.click("#start")
        await practitioner.wait_for_selector("#family-video", state="visible", timeout=20_000)
        badges.append(await practitioner.text_content("#family-state") or "")
        await practitioner.click("#toggle-camera")
        await practitioner.wait_for_selector("#self-view", state="visible")
        await asyncio.sleep(0.5)
        await shot(practitioner, "review-both-cameras-1280x720")
        for selector in (
            "#clip-video",
            "#family-video",
            "#self-view",
            "#toggle-camera",
            "#toggle-mic",
            "#play",
            "#step-back",
            "#step-forward",
            "#scrub",
            "#rec-start",
            "#family-link",
            "#end-session",
        ):
            assert await inside_viewport(practitioner, selector), selector
        # The faces never reach below the clip (they would push the controls down).
        clip = (await rects(practitioner, "#clip-video"))[0]
        for face in await rects(practitioner, ".faces figure"):
            assert face[3] <= clip[3] + 0.5, (face, clip)

        # Recording for supervision and ending the review look different and keep apart: only
        # End review is filled red.
        record, end = (
            await background(practitioner, "#rec-start"),
            await background(practitioner, "#end-session"),
        )
        assert record != end, (record, end)
        assert end == "rgb(179, 38, 30)", end
        (between,) = gaps(await rects(practitioner, "#rec-start, #end-session"))
        assert between[2] >= 5 * MIN_GAP_PX, between

        await family.context.close()
        await practitioner.wait_for_function(
            "document.querySelector('#family-state').dataset.state === 'left'"
        )
        badges.append(await practitioner.text_content("#family-state") or "")
        assert "not here" in badges[0] and "video is on" in badges[1], badges
        assert "has left" in badges[2], badges


async def test_record_pause_and_stop_keep_their_places_in_every_state(
    server: RunningServer,
) -> None:
    watched = "#rec-start, #rec-pause, #rec-resume, #rec-stop, #bookmark, #toggle-camera"
    async with live_view(server) as live:
        page = live.page
        seen: dict[str, dict[str, list[float]]] = {}

        async def measure(state: str) -> None:
            await shot(page, f"live-{state}-1280x720")
            boxes = await page.evaluate(
                """(selector) => Object.fromEntries([...document.querySelectorAll(selector)]
                     .filter((e) => !e.hidden).map((e) => { const r = e.getBoundingClientRect();
                       return [e.id === 'rec-resume' ? 'rec-pause' : e.id,
                               [r.left, r.top, r.width, r.height]]; }))""",
                watched,
            )
            seen[state] = boxes

        await measure("idle")
        await page.click("#rec-start")
        await page.wait_for_selector("#rec-pause:not([disabled])")
        await measure("recording")
        await page.click("#rec-pause")
        await page.wait_for_selector("#rec-resume:not([hidden]):not([disabled])")
        await measure("paused")
        assert seen["idle"] == seen["recording"] == seen["paused"], seen
        # The three record buttons share one row, apart.
        row = await rects(page, "#rec-start, #rec-resume, #rec-stop")
        assert len({round(box[1]) for box in row}) == 1, row
        assert min(gap for _, _, gap in gaps(row)) > 0, row
        # The disabled Record is legible (WCAG AA).
        assert await page.is_disabled("#rec-start")
        assert await page.evaluate(CONTRAST, "#rec-start") >= AA_CONTRAST


async def test_family_screens_say_what_is_true_before_the_practitioner_joins(
    server: RunningServer,
) -> None:
    wording = server.app[CONSENT_WORDING]["sessions"]
    http, _csrf, _case_id, review_id, link = await review_link(server)
    owner = server.store.user_by_name("alice")
    assert owner is not None
    filming = server.new_session(owner)
    try:
        async with launch_browser() as browser:
            # A filming call: the family answers before the practitioner is there.
            family = await (await new_phone_context(browser)).new_page()
            await family.goto(filming["family_link"])
            await family.click("#start")
            await family.check("#consent-purposes input[name=analysis]")
            await family.click("#consent-agree")
            await family.wait_for_selector("#consent-panel", state="hidden")
            await family.wait_for_function(
                "document.querySelector('#status').textContent.startsWith('Thank you')"
            )
            said = await family.text_content("#status") or ""
            await shot(family, "family-call-alone")
            assert wording["filming"]["will_record"] not in said, said
            assert "has not joined" in said, said
            practitioner = SimulatedFamily(
                server.ws_url, server.practitioner_token(filming["session"]["id"], owner)
            )
            await practitioner.join(with_media=False)
            try:
                await family.wait_for_function(
                    "(text) => document.querySelector('#status').textContent === text",
                    arg=wording["filming"]["will_record"],
                )
            finally:
                await practitioner.close()
            await family.context.close()

            # A shared review: no pause caption while nobody is showing anything.
            family = await (await new_phone_context(browser)).new_page()
            await family.goto(link)
            await family.click("#start")
            await family.wait_for_selector("#consent-panel:not([hidden])")
            await family.click("#consent-agree")
            await family.wait_for_selector("#consent-panel", state="hidden")
            await family.wait_for_function(
                "document.querySelector('#review-state').textContent.trim().length > 0"
                " && document.querySelector('#watching').textContent.length > 0"
            )
            await asyncio.sleep(0.5)  # a late review state must not bring "Paused" back
            caption = await family.text_content("#review-state") or ""
            await shot(family, "family-review-alone")
            assert "Paused" not in caption and "practitioner" in caption, caption
            assert "Waiting" in (await family.text_content("#watching") or "")
            assert wording["review"]["will_record"] not in (await family.text_content("#status"))
            # "Pause here" cannot be pressed: it says why, legibly.
            assert await family.is_disabled("#pause-here")
            hint = await family.text_content("#pause-hint") or ""
            assert "pause" in hint and len(hint) > 20, hint
            assert await family.evaluate(CONTRAST, "#pause-here") >= AA_CONTRAST
            practitioner = SimulatedFamily(
                server.ws_url, server.practitioner_token(review_id, owner)
            )
            await practitioner.join(with_media=False)
            try:
                await family.wait_for_function(
                    "document.querySelector('#review-state').textContent.includes('Paused')"
                )
                await family.wait_for_function(
                    "(text) => document.querySelector('#status').textContent === text",
                    arg=wording["review"]["will_record"],
                )
            finally:
                await practitioner.close()
            await family.context.close()
    finally:
        await http.close()


async def test_case_page_actions_keep_apart_and_delete_stands_out(server: RunningServer) -> None:
    http, _csrf, case_id, _clips = await make_clips(
        server, ["analysis", "shared_review"], [(30, 90), (100, 150)]
    )
    await http.close()
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await page.set_viewport_size(LAPTOP)
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/app#case/{case_id}")
        await page.wait_for_selector("#clips tbody tr")
        await page.locator("#recordings").scroll_into_view_if_needed()
        await shot(page, "case-actions-1280x720")
        rows = [
            "#recordings tbody tr:nth-child(1)",
            "#clips tbody tr:nth-child(1)",
            "#clips tbody tr:nth-child(2)",
        ]
        for row in rows:
            actions = await rects(page, f"{row} td:last-child :is(button, a)")
            assert len(actions) >= 2, (row, actions)
            tight = [g for g in gaps(actions) if g[2] < MIN_GAP_PX - 0.5]
            assert not tight, (row, tight)
            others = await page.eval_on_selector_all(
                f"{row} td:last-child :is(button, a)",
                "els => els.filter((e) => e.textContent.trim() !== 'Delete')"
                ".map((e) => getComputedStyle(e).backgroundColor)",
            )
            delete = await background(page, f"{row} td:last-child button:text-is('Delete')")
            assert delete not in others, (row, delete, others)


async def test_marking_a_clip_needs_no_scrolling_on_a_laptop(server: RunningServer) -> None:
    recording = seed_recording(server, server.add_user("alice"))
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await page.set_viewport_size(LAPTOP)
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/analysis/{recording.id}")
        await page.wait_for_selector("#bookmark-list li button")
        await page.wait_for_function("document.querySelectorAll('#thumbs .thumb').length > 0")
        await shot(page, "analysis-1280x720")
        assert await page.evaluate("window.scrollY") == 0
        for selector in (
            "#analysis-video",
            "#play",
            "#timeline",
            "#bookmark-list li button",
            "#set-in",
            "#set-out",
            "#clip-form input[name=title]",
            "#clip-form textarea[name=notes]",
            "#cut",
        ):
            assert await inside_viewport(page, selector), selector
        # The clip's title is marked as needed where it is asked for.
        label = await page.text_content("label:has(input[name=title])") or ""
        assert "needed" in label, label
