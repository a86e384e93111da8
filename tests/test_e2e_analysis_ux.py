"""In Chromium, at laptop size: what the practitioner sees on the analysis and replay pages.

The analysis page shows the notes of bookmarks made while filming, lists the clips already cut
from the recording, shows in and out as times, plays the selection, steps one second by the
frames' own timestamps, and shows its messages and "Working…" where the practitioner is
looking. The replay page fits both cameras and the chapters on a laptop screen and a phone.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.conftest import RunningServer
from tests.support.browser import (
    inside_viewport,
    launch_browser,
    new_desktop_context,
    new_phone_context,
)
from tests.support.recordings import make_recording, seed_recording
from tests.test_e2e_analysis import shown_frame
from tests.test_e2e_filming import practitioner_logs_in
from vigremote.paths import recording_dir
from vigremote.state import RECORDINGS, VAULT

LAPTOP = {"width": 1280, "height": 720}
TIME = re.compile(r"\d\d:\d\d\.\d\d\d")

# A live recording's rate is not even: the first frame comes 67 ms after frame 0, then 30 fps.
# "One second" measured from the first gap would be 15 frames; by timestamps it is 29.
UNEVEN_MS = [0] + [67 + round(k * 1000 / 30) for k in range(299)]


def seed_uneven_recording(server: RunningServer) -> Any:
    owner = server.add_user("alice")
    recording = seed_recording(server, owner)
    folder = recording_dir(server.config.data_dir, recording.case_id, recording.id)
    (folder / "segment-001.webm").unlink()
    make_recording(
        server.app[VAULT],
        folder / "segment-001.webm",
        frames=300,
        keyframe_every=60,
        times_ms=UNEVEN_MS,
    )
    return recording


async def test_one_second_step_follows_the_frame_timestamps(server: RunningServer) -> None:
    recording = seed_uneven_recording(server)
    second = UNEVEN_MS.index(1067)  # one second after frame 1
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await page.set_viewport_size(LAPTOP)
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/analysis/{recording.id}")
        await page.wait_for_function("document.querySelector('#frame-count').textContent === '300'")
        assert await shown_frame(page) == 0
        await page.keyboard.press("Shift+ArrowRight")
        at_one_second = UNEVEN_MS.index(1000)
        assert await shown_frame(page) == at_one_second
        assert "00:01.000" in (await page.text_content("#frame-time") or "")
        await page.keyboard.press("ArrowLeft")
        await page.keyboard.press("Shift+ArrowRight")
        assert await shown_frame(page) == at_one_second - 1 + 30
        await page.keyboard.press("Shift+ArrowLeft")
        await page.keyboard.press("Shift+ArrowLeft")
        assert await shown_frame(page) == 0
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("Shift+ArrowRight")
        assert await shown_frame(page) == second

        # The arithmetic itself, on uneven and on sparse timestamps.
        results = await page.evaluate(
            """async () => {
              const f = await import('/static/frames.js');
              const uneven = [0, 50, 83, 117, 150, 1000, 1040, 1083, 2100];
              return [
                f.frameSecondsAway(uneven, 0, 1),     // 1000 ms exactly
                f.frameSecondsAway(uneven, 1, 1),     // 1050: nearest is 1040
                f.frameSecondsAway(uneven, 8, -1),    // 1100: nearest is 1083
                f.frameSecondsAway(uneven, 2, -1),    // before the start: frame 0
                f.frameSecondsAway(uneven, 8, 1),     // past the end: stays on the last
                f.frameSecondsAway([0, 3000, 6000], 0, 1),  // always moves a frame
                f.describeFrame(uneven, 5),
              ];
            }"""
        )
        assert results == [5, 6, 7, 0, 8, 1, "00:01.000 (frame 5)"]
        await browser.close()


async def test_analysis_shows_notes_clips_times_progress_and_messages_in_view(
    server: RunningServer,
) -> None:
    owner = server.add_user("alice")
    recording = seed_recording(server, owner)
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await page.set_viewport_size(LAPTOP)
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/analysis/{recording.id}")
        await page.wait_for_function("document.querySelector('#frame-count').textContent === '300'")
        assert await shown_frame(page) == 0

        # The note typed while filming is shown, in a list and on the timeline's marker.
        note = page.locator("#bookmark-list li", has_text="a look")
        await note.wait_for()
        assert "00:02.500" in (await note.text_content() or "")
        assert "a look" in (await page.get_attribute("#marks .mark", "title") or "")
        await note.locator("button").click()
        assert await shown_frame(page) == 75

        # In and out are shown as times as well as frames.
        await page.keyboard.press("Shift+ArrowLeft")
        assert await shown_frame(page) == 45
        await page.keyboard.press("i")
        await page.keyboard.press("Shift+ArrowRight")
        await page.keyboard.press("o")
        in_label = await page.text_content("#in-label") or ""
        out_label = await page.text_content("#out-label") or ""
        assert TIME.search(in_label) and "00:01.500" in in_label and "45" in in_label
        assert TIME.search(out_label) and "00:02.500" in out_label and "75" in out_label

        # Cutting shows that it is working while the request runs, then lists the clip.
        await page.evaluate(
            """() => {
              window.sawWork = false;
              const work = document.querySelector('#work');
              new MutationObserver(() => {
                if (work && !work.hidden && /Working/.test(work.textContent)) window.sawWork = true;
              }).observe(document.body, { subtree: true, attributes: true, childList: true });
            }"""
        )
        await page.fill("#clip-form input[name=title]", "She looks up")
        await page.click("#cut")
        listed = page.locator("#clip-list li", has_text="She looks up")
        await listed.wait_for()
        assert await page.evaluate("window.sawWork")
        text = await listed.text_content() or ""
        assert "00:01.500" in text and "00:02.500" in text

        # A message after an action at the bottom of the page is where the practitioner looks.
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        assert await page.evaluate("window.scrollY") > 200
        await page.fill("#still-form input[name=caption]", "the look")
        await page.click("#save-still")
        await page.wait_for_function(
            "/saved as a still/.test(document.querySelector('#message').textContent)"
        )
        assert await page.is_visible("#message")
        assert await inside_viewport(page, "#message")

        # A listed clip loads its in and out; the selection plays and stops on its out frame.
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("i")
        await page.keyboard.press("o")
        assert "frame 76)" in (await page.text_content("#in-label") or "")
        await listed.locator("button").click()
        assert "frame 45)" in (await page.text_content("#in-label") or "")
        assert "frame 75)" in (await page.text_content("#out-label") or "")
        assert await shown_frame(page) == 45
        await page.click("#preview")
        await page.wait_for_function("!document.querySelector('#analysis-video').paused")
        await page.wait_for_function(
            "document.querySelector('#analysis-video').paused", timeout=10_000
        )
        await asyncio.sleep(0.2)
        assert await shown_frame(page) == 75
        await page.screenshot(path="/tmp/ux-shots/analysis-laptop.png")
        await browser.close()


async def test_replay_fits_cameras_and_chapters_on_screen_with_a_readable_caption(
    server: RunningServer,
) -> None:
    owner = server.add_user("alice")
    recording = seed_recording(server, owner, frames=90)
    folder = recording_dir(server.config.data_dir, recording.case_id, recording.id)
    make_recording(
        server.app[VAULT], folder / "practitioner-002.webm", frames=90, width=640, height=480
    )
    store = server.app[RECORDINGS]
    store.add_segment(recording.id, 2, "practitioner-002.webm", "VP8")
    for k in range(12):
        store.add_mark(recording.id, 0.2 * k, "chapter", f"Paused on frame {k * 6}", owner.id)
    async with launch_browser() as browser:
        for make_context, size in ((new_desktop_context, LAPTOP), (new_phone_context, None)):
            page = await (await make_context(browser)).new_page()
            if size:
                await page.set_viewport_size(size)
            await practitioner_logs_in(page, server, "alice")
            await page.goto(f"{server.url}/replay/{recording.id}")
            await page.wait_for_function(
                "document.querySelectorAll('#chapters li').length === 12"
                " && [...document.querySelectorAll('aside video')].every(v => v.readyState >= 1)"
            )
            await asyncio.sleep(0.2)
            name = "laptop" if size else "phone"
            await page.screenshot(path=f"/tmp/ux-shots/replay-{name}.png")
            viewport = page.viewport_size
            assert viewport is not None
            for selector in ("#camera-family", "#camera-practitioner", "#clip-video"):
                box = await page.locator(selector).bounding_box()
                assert box is not None
                assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], selector
            if size:
                for selector in ("#camera-family", "#camera-practitioner", "#chapters"):
                    assert await inside_viewport(page, selector), selector
            contrast = await page.evaluate(CONTRAST_JS, "#clip-caption")
            assert contrast >= 4.5, contrast
            await page.context.close()
        await browser.close()


# Contrast ratio (WCAG) of an element's text against the first opaque background behind it.
CONTRAST_JS = """
(selector) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const element = document.querySelector(selector);
  let back = [255, 255, 255];
  for (let node = element; node; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0.99) { back = c.slice(0, 3); break; }
  }
  const [a, b] = [lum(rgb(getComputedStyle(element).color)), lum(back)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""
