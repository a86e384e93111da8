"""End to end in Chromium: the practitioner's shared-review screen and both sides' cameras.

The clip is never covered: at 1280x720 and 1440x900 its whole box is on screen and every point
inside it is the clip (faces sit beside it), before and after the family joins. The practitioner's
camera and microphone open only when asked, and are off again after "End review", with nothing
left looking live. The family can mute and hide themselves (the practitioner is told), and is
told when the practitioner's microphone is off. Screenshots go to /tmp/ux-shots/review-*.png.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import Dialog, Page, ViewportSize

from tests.conftest import RunningServer
from tests.review_helpers import make_clips
from tests.support.browser import launch_browser, new_desktop_context, new_phone_context
from tests.test_e2e_filming import practitioner_logs_in

SHOTS = Path("/tmp/ux-shots")
SIZES = [ViewportSize(width=1280, height=720), ViewportSize(width=1440, height=900)]

# Counts camera/microphone requests and keeps every track handed out, to see them stopped.
WATCH_DEVICES = """
window.__gum = 0; window.__tracks = [];
const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  window.__gum += 1;
  const stream = await original(constraints);
  window.__tracks.push(...stream.getTracks());
  return stream;
};
"""

# The clip's box, whether it is inside the viewport, and what is on top at a 6x6 grid inside it.
CLIP_COVERAGE = """
() => {
  const clip = document.querySelector('#clip-video');
  const box = clip.getBoundingClientRect();
  const inside = box.left >= 0 && box.top >= 0 && box.right <= innerWidth
    && box.bottom <= innerHeight && box.width > 0 && box.height > 0;
  const covered = [];
  for (let i = 0; i < 6; i += 1) {
    for (let j = 0; j < 6; j += 1) {
      const x = box.left + (i + 0.5) * box.width / 6;
      const y = box.top + (j + 0.5) * box.height / 6;
      const top = document.elementFromPoint(x, y);
      const what = top && (top.id || top.tagName);
      if (top !== clip) covered.push(`${Math.round(x)},${Math.round(y)}: ${what}`);
    }
  }
  return { inside, box: [box.left, box.top, box.right, box.bottom], covered };
}
"""


async def review(server: RunningServer) -> tuple[str, str]:
    """A shared review of one clip: (session id, family link)."""
    http, csrf, case_id, clips = await make_clips(server, ["analysis", "shared_review"], [(30, 90)])
    async with http.post(
        f"{server.url}/api/cases/{case_id}/reviews",
        json={"items": [{"kind": "clip", "id": clips[0]["id"]}]},
        headers={"X-CSRF-Token": csrf},
    ) as response:
        created = await response.json()
    await http.close()
    return created["session"]["id"], created["family_link"]


async def assert_clip_uncovered(page: Page, label: str) -> None:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    for size in SIZES:
        await page.set_viewport_size(size)
        await asyncio.sleep(0.2)
        seen: dict[str, Any] = await page.evaluate(CLIP_COVERAGE)
        name = f"review-{label}-{size['width']}x{size['height']}.png"
        await page.screenshot(path=str(SHOTS / name))
        assert seen["inside"], (label, size, seen["box"])
        assert not seen["covered"], (label, size, seen["covered"])


async def test_clip_is_never_covered_and_nothing_opens_unasked(server: RunningServer) -> None:
    session_id, family_link = await review(server)
    async with launch_browser() as browser:
        practitioner = await (await new_desktop_context(browser)).new_page()
        await practitioner.add_init_script(WATCH_DEVICES)
        family = await (await new_phone_context(browser)).new_page()
        await practitioner_logs_in(practitioner, server, "alice")
        await practitioner.goto(f"{server.url}/review/{session_id}")
        await practitioner.wait_for_function(
            "document.querySelector('#live-state').dataset.state === 'connected'"
        )
        # Before the family joins: no empty box on the clip, and no camera opened unasked.
        await assert_clip_uncovered(practitioner, "before-family")
        assert await practitioner.evaluate("window.__gum") == 0
        assert await practitioner.is_hidden("#family-video")

        await family.goto(family_link)
        await family.click("#start")
        await practitioner.wait_for_selector("#family-video", state="visible", timeout=20_000)
        await assert_clip_uncovered(practitioner, "with-family")


async def test_cameras_are_chosen_told_and_off_after_the_review(server: RunningServer) -> None:
    session_id, family_link = await review(server)
    async with launch_browser() as browser:
        practitioner = await (await new_desktop_context(browser)).new_page()
        await practitioner.add_init_script(WATCH_DEVICES)
        family = await (await new_phone_context(browser)).new_page()
        await practitioner_logs_in(practitioner, server, "alice")
        await practitioner.goto(f"{server.url}/review/{session_id}")
        await family.goto(family_link)
        await family.click("#start")

        # The practitioner has not turned the microphone on: the family is told.
        await family.wait_for_function(
            "document.querySelector('#practitioner-media').dataset.muted === 'audio video'"
        )
        assert "microphone is off" in (await family.text_content("#practitioner-media") or "")
        await practitioner.click("#toggle-camera")
        await practitioner.click("#toggle-mic")
        await family.wait_for_function(
            "document.querySelector('#practitioner-media').dataset.muted === ''"
        )

        # The family mutes and hides themselves: what they send goes silent and dark, and the
        # practitioner's page says so.
        await family.click("#toggle-mic")
        await family.click("#toggle-camera")
        sending = await family.evaluate(
            "document.querySelector('#self-view').srcObject.getTracks().map((t) => t.enabled)"
        )
        assert sending == [False, False], sending
        await practitioner.wait_for_function(
            "document.querySelector('#family-state').dataset.muted === 'audio video'"
        )
        assert "microphone off" in (await practitioner.text_content("#family-state") or "")
        await family.screenshot(path=str(SHOTS / "review-family-muted-phone.png"))

        # End review: every track the page opened is stopped, nothing looks live.
        practitioner.on("dialog", lambda dialog: asyncio.ensure_future(accept(dialog)))
        await practitioner.click("#end-session")
        await practitioner.wait_for_function(
            "document.querySelector('#live-state').dataset.state === 'ended'"
        )
        states = await practitioner.evaluate("window.__tracks.map((t) => t.readyState)")
        assert states == ["ended", "ended"], states
        assert await practitioner.is_disabled("#toggle-camera")
        assert await practitioner.is_disabled("#toggle-mic")
        assert await practitioner.is_disabled("#play")
        assert await practitioner.is_hidden("#self-view")
        assert await practitioner.get_attribute("#toggle-camera", "aria-pressed") == "false"
        await asyncio.sleep(0.5)  # the socket's close must not bring a live badge back
        assert await practitioner.get_attribute("#live-state", "data-state") == "ended"
        await practitioner.screenshot(path=str(SHOTS / "review-ended-1280x800.png"))


async def accept(dialog: Dialog) -> None:
    await dialog.accept()
