"""Playwright helpers for end-to-end WebRTC tests against the system Chromium.

Chromium's fake capture device plays a numbered Y4M (see numbered_video) as the
camera, and ``read_video_frame_number`` reads the index back out of any
``<video>`` element, so a test can prove that live frames flow end to end.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from .numbered_video import read_frame_number

__all__ = [
    "CHROMIUM",
    "chromium_args",
    "launch_browser",
    "new_desktop_context",
    "new_phone_context",
    "read_video_frame_number",
    "wait_for_frame_numbers",
]

CHROMIUM = "/usr/bin/chromium"

PHONE_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
_MEDIA_PERMISSIONS = ["camera", "microphone"]
# Readback is downscaled to this width: the code blocks are huge, and small
# payloads keep polling cheap.
_READ_MAX_WIDTH = 320


def chromium_args(fake_video: Path | None) -> list[str]:
    """Flags for a quiet, headless, auto-permitting Chromium with a fake camera."""
    args = [
        "--no-sandbox",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-gpu",
        "--disable-quic",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={Path(fake_video).resolve()}")
    return args


@asynccontextmanager
async def launch_browser(fake_video: Path | None = None) -> AsyncIterator[Browser]:
    """Headless system Chromium (never a downloaded one), closed on exit."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(fake_video)
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_phone_context(browser: Browser) -> BrowserContext:
    """iPhone-sized touch context, to exercise the mobile layout of the UI."""
    return await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_USER_AGENT,
        permissions=_MEDIA_PERMISSIONS,
        # The pages forbid eval (CSP script-src 'self'); Playwright's wait_for_function needs it.
        bypass_csp=True,
    )


async def new_desktop_context(browser: Browser) -> BrowserContext:
    """Plain laptop-sized context with camera and microphone allowed."""
    return await browser.new_context(
        viewport={"width": 1280, "height": 800},
        permissions=_MEDIA_PERMISSIONS,
        # The pages forbid eval (CSP script-src 'self'); Playwright's wait_for_function needs it.
        bypass_csp=True,
    )


# Draws the current video frame into a reused canvas and returns its RGBA bytes
# as base64 (null while the element has no decoded frame yet).
_GRAB_FRAME_JS = """
([selector, maxWidth]) => {
  const video = document.querySelector(selector);
  if (!video || video.readyState < 2 || !video.videoWidth || !video.videoHeight) {
    return null;
  }
  const scale = Math.min(1, maxWidth / video.videoWidth);
  const width = Math.max(1, Math.round(video.videoWidth * scale));
  const height = Math.max(1, Math.round(video.videoHeight * scale));
  const canvas = (window.__vigremoteFrameCanvas ??= document.createElement("canvas"));
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, width, height);
  const bytes = ctx.getImageData(0, 0, width, height).data;
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return { width, height, data: btoa(binary) };
}
"""


async def read_video_frame_number(page: Page, selector: str) -> int | None:
    """Frame number currently shown by a ``<video>``, or None if unreadable."""
    grabbed: dict[str, Any] | None = await page.evaluate(
        _GRAB_FRAME_JS, [selector, _READ_MAX_WIDTH]
    )
    if grabbed is None:
        return None
    width, height = int(grabbed["width"]), int(grabbed["height"])
    rgba = np.frombuffer(base64.b64decode(grabbed["data"]), dtype=np.uint8)
    return read_frame_number(rgba.reshape(height, width, 4)[:, :, :3])


async def wait_for_frame_numbers(
    page: Page,
    selector: str,
    count: int = 3,
    timeout: float = 20.0,  # noqa: ASYNC109 - own deadline so the error can say what it saw
) -> list[int]:
    """Wait for `count` strictly increasing frame numbers: proof of live video.

    Chromium loops the fake-capture file, so a drop back to a lower number
    restarts the run instead of failing it.
    """
    deadline = time.monotonic() + timeout
    run: list[int] = []
    seen: list[int | None] = []
    while True:
        number = await read_video_frame_number(page, selector)
        seen.append(number)
        if number is not None:
            if run and number < run[-1]:
                run = []
            if not run or number > run[-1]:
                run.append(number)
            if len(run) >= count:
                return run
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    unreadable = sum(1 for n in seen if n is None)
    recent = seen[-15:]
    raise AssertionError(
        f"{selector!r}: wanted {count} increasing frame numbers within {timeout:.1f}s, "
        f"got run {run} after {len(seen)} reads ({unreadable} unreadable); "
        f"last reads: {recent}"
    )


async def inside_viewport(page: Page, selector: str) -> bool:
    """Whether the element's whole box is on screen (half a pixel of rounding allowed)."""
    box = await page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None, selector
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"] + 0.5
        and box["y"] + box["height"] <= size["height"] + 0.5
    )
