"""End to end in Chromium on a phone (390x844, and held sideways): what the family's page shows.

The recording can be seen from across the room (a banner that never scrolls away, a red frame on
the preview) and is read out; leaving asks first and can be undone; the consent says how long
recordings are kept, how to take agreement back and whom to ask; a review's start screen and
its "Pause here" explain themselves; a broken or expired link says so, with what to do, before
any camera prompt. The practitioner is a scripted client, so each test needs one browser page.
Screenshots go to /tmp/ux-shots/family-*.png.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Dialog, Page, ViewportSize

from tests.conftest import RunningServer, start_server
from tests.support.browser import launch_browser, new_phone_context
from tests.support.publisher import SimulatedFamily
from tests.test_e2e_consent import COUNT_CAMERA_REQUESTS, review_link

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHOTS = Path("/tmp/ux-shots")
PORTRAIT = ViewportSize(width=390, height=844)
SIDEWAYS = ViewportSize(width=844, height=390)
STEP_TIMEOUT_MS = 10_000
RED = (179, 38, 30)  # --danger in style.css
RETENTION = "Recordings are deleted 12 months after your last session with us."
CONTACT = "Questions? Call the Family Team on 01234 567890."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    async with launch_browser() as shared:
        yield shared


@asynccontextmanager
async def running(tmp_path: Path, **overrides: Any) -> AsyncIterator[RunningServer]:
    runner, server = await start_server(tmp_path / "data", **overrides)
    try:
        yield server
    finally:
        await runner.cleanup()


async def phone_page(browser: Browser, size: ViewportSize = PORTRAIT) -> Page:
    page = await (await new_phone_context(browser)).new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    await page.set_viewport_size(size)
    await page.add_init_script(COUNT_CAMERA_REQUESTS)
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"family-{name}.png"))


async def status(page: Page) -> str:
    return (await page.text_content("#status") or "").strip()


async def wait_status(page: Page, fragment: str) -> str:
    await page.wait_for_function(
        "(f) => document.querySelector('#status').textContent.includes(f)", arg=fragment
    )
    return await status(page)


@dataclass
class Call:
    server: RunningServer
    family: Page
    practitioner: SimulatedFamily
    session: dict[str, Any]


@asynccontextmanager
async def in_call(
    server: RunningServer, browser: Browser, size: ViewportSize = PORTRAIT
) -> AsyncIterator[Call]:
    """The family on the phone page, past the start button; the practitioner, scripted, joined."""
    owner = server.add_user("alice")
    created = server.new_session(owner)
    practitioner = SimulatedFamily(
        server.ws_url, server.practitioner_token(created["session"]["id"], owner)
    )
    await practitioner.join(with_media=False)
    family = await phone_page(browser, size)
    try:
        await family.goto(created["family_link"])
        await wait_status(family, "Press the button")
        await family.click("#start")
        await family.wait_for_selector("#consent-purposes input")
        yield Call(server, family, practitioner, created)
    finally:
        await family.context.close()
        await practitioner.close()


async def agree_and_record(call: Call) -> None:
    """The family agrees on the phone; the practitioner starts recording once video flows."""
    await call.family.check("#consent-purposes input[name=analysis]")
    await call.family.click("#consent-agree")
    await call.family.wait_for_selector("#consent-panel", state="hidden")
    deadline = time.monotonic() + 15
    while True:
        before = len(call.practitioner.messages)
        await call.practitioner.send({"type": "record", "action": "start"})
        reply = await call.practitioner.wait_for_any(("recording", "error"), after_index=before)
        if reply["type"] == "recording" and reply["state"] == "recording":
            return
        assert reply.get("code") in ("no-family-video", "no-consent"), reply
        assert time.monotonic() < deadline, reply
        await asyncio.sleep(0.3)


async def box_of(page: Page, selector: str) -> dict[str, float]:
    """The element's box on screen now, the viewport, and whether it is on top where it is."""
    found: dict[str, float] = await page.evaluate(
        """(sel) => {
             const e = document.querySelector(sel);
             const r = e.getBoundingClientRect();
             const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
             return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
                     height: r.height, vh: window.innerHeight, vw: window.innerWidth,
                     onTop: hit !== null && e.contains(hit) ? 1 : 0,
                     scrolled: window.scrollY,
                     scrollable: document.documentElement.scrollHeight - window.innerHeight};
           }""",
        selector,
    )
    return found


async def border_of(page: Page, selector: str) -> tuple[float, tuple[int, ...]]:
    """The drawn border (width in px and colour) of an element, as the browser computed it."""
    width, colour = await page.evaluate(
        """(sel) => { const s = getComputedStyle(document.querySelector(sel));
                      return [parseFloat(s.borderTopWidth), s.borderTopColor]; }""",
        selector,
    )
    return float(width), tuple(int(n) for n in re.findall(r"\d+", colour)[:3])


@pytest.mark.parametrize("size", [PORTRAIT, SIDEWAYS], ids=["portrait", "sideways"])
async def test_recording_banner_stays_in_view_framed_and_read_out(
    browser: Browser, tmp_path: Path, size: ViewportSize
) -> None:
    name = "portrait" if size == PORTRAIT else "sideways"
    async with running(tmp_path) as server, in_call(server, browser, size) as call:
        family = call.family
        live = await family.get_attribute("#status", "aria-live")
        assert live in ("polite", "assertive")
        await agree_and_record(call)
        await family.wait_for_selector("#rec-indicator:not([hidden])")
        await family.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        await family.wait_for_timeout(200)
        await shot(family, f"recording-{name}-scrolled")
        banner = await box_of(family, "#rec-indicator")
        if size == SIDEWAYS:
            assert banner["scrolled"] > 0, banner  # the test scrolled: the page is long sideways
        assert banner["top"] >= 0 and banner["bottom"] <= banner["vh"], banner
        assert banner["onTop"] == 1, banner  # nothing covers it
        assert banner["height"] >= 40 and banner["right"] - banner["left"] >= banner["vw"] - 1
        # A red frame around the camera preview.
        width, colour = await border_of(family, "#self-view")
        assert width >= 4 and colour == RED, (width, colour)
        # The headline (read out) tells what is happening, not what the practitioner may do.
        started = await wait_status(family, "being recorded")
        assert "can now record" not in started

        # Pause and resume from the phone, then the practitioner stops: each is read out.
        await family.click("#rec-pause")
        paused = await wait_status(family, "paused")
        await shot(family, f"recording-{name}-paused")
        width, colour = await border_of(family, "#self-view")
        assert colour != RED, colour
        await family.click("#rec-resume")
        assert "being recorded" in await wait_status(family, "being recorded")
        await call.practitioner.send({"type": "record", "action": "stop"})
        stopped = await wait_status(family, "stopped")
        await family.wait_for_selector("#rec-indicator", state="hidden")
        assert len({started, paused, stopped}) == 3


async def test_leaving_asks_first_and_rejoin_brings_the_family_back(
    browser: Browser, tmp_path: Path
) -> None:
    async with running(tmp_path) as server, in_call(server, browser) as call:
        family = call.family
        asked: list[str] = []

        async def answer(dialog: Dialog, accept: bool) -> None:
            asked.append(dialog.message)
            await (dialog.accept() if accept else dialog.dismiss())

        family.once("dialog", lambda d: asyncio.ensure_future(answer(d, accept=False)))
        await family.click("#leave")
        await family.wait_for_timeout(300)
        assert asked and "Leave the call" in asked[0]
        assert await family.is_visible("#call-panel")  # "No": still in the call

        family.once("dialog", lambda d: asyncio.ensure_future(answer(d, accept=True)))
        await family.click("#leave")
        await wait_status(family, "You have left the call")
        await family.wait_for_selector("#rejoin:not([hidden])")
        await shot(family, "left-call")
        shown = await family.inner_text("main")
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", shown) if s.strip()]
        assert len(sentences) == len(set(sentences)), shown
        joins_before = len(call.practitioner.messages)

        await family.click("#rejoin")
        await wait_status(family, "Press the button")
        await family.click("#start")

        def family_back() -> bool:
            return any(
                m["type"] == "participants"
                and any(p["role"] == "family" for p in m["participants"])
                for m in call.practitioner.messages[joins_before:]
            )

        deadline = time.monotonic() + 10
        while not family_back():
            assert time.monotonic() < deadline, call.practitioner.messages[-5:]
            await asyncio.sleep(0.1)
        await family.wait_for_selector("#call-panel:not([hidden])")


async def test_consent_says_how_long_how_to_withdraw_and_whom_to_ask(
    browser: Browser, tmp_path: Path
) -> None:
    async with (
        running(tmp_path, retention_text=RETENTION, contact_text=CONTACT) as server,
        in_call(server, browser) as call,
    ):
        family = call.family
        await family.wait_for_selector("#consent-panel:not([hidden])")
        form = await family.inner_text("#consent-panel")
        assert RETENTION in form and CONTACT in form
        assert "change your mind" in form and "this same link" in form
        # Connected, the practitioner in the call, the question unanswered: no "can see you".
        connected = await wait_status(family, "You are connected")
        await shot(family, "consent-notes")
        assert "can see you" not in connected, connected


async def test_review_start_screen_and_pause_here_explain_themselves(
    browser: Browser, tmp_path: Path
) -> None:
    async with running(tmp_path) as server:
        http, _csrf, _case_id, _session_id, link = await review_link(server)
        family = await phone_page(browser)
        try:
            await family.goto(link)
            await wait_status(family, "Press the button")
            await shot(family, "review-start")
            start = await family.inner_text("#start-panel")
            assert "Prop your phone" not in start and "watch through the camera" not in start
            assert "clips together" in start
            await family.click("#start")
            await family.wait_for_selector("#pause-here", state="visible")
            hint = await family.inner_text("#pause-hint")
            assert await family.is_visible("#pause-hint") and len(hint) > 20, hint
            described = await family.get_attribute("#pause-here", "aria-describedby")
            assert described == "pause-hint"
        finally:
            await family.context.close()
            await http.close()


async def refused(page: Page, url: str) -> str:
    """Open a family URL that cannot start a call; returns what the page says."""
    response = await page.goto(url)
    assert response is not None and response.status == 200, url
    text = await wait_status(page, "This link cannot be used")
    await page.wait_for_selector("#help:not([hidden])")
    help_text = await page.inner_text("#help")
    assert "practitioner" in help_text, help_text  # what to do, and whom to ask
    assert not await page.is_visible("#start")
    assert not await page.is_visible("#consent-panel")
    assert int(await page.evaluate("window.__cameraRequests")) == 0
    return text


@pytest.mark.parametrize("tail", ["", "x/y", "cut"], ids=["empty", "two-parts", "cut-short"])
async def test_a_broken_link_shows_the_family_page_with_what_to_do(
    browser: Browser, tmp_path: Path, tail: str
) -> None:
    async with running(tmp_path) as server:
        created = server.new_session(server.add_user("alice"))
        url = created["family_link"][:-12] if tail == "cut" else f"{server.url}/f/{tail}"
        page = await phone_page(browser)
        try:
            said = await refused(page, url)
            assert "not complete" in said, said
            await shot(page, f"broken-link-{tail.replace('/', '-') or 'empty'}")
        finally:
            await page.context.close()


async def test_an_expired_link_says_so_before_the_camera(browser: Browser, tmp_path: Path) -> None:
    async with running(tmp_path, family_link_ttl_s=1) as server:
        created = server.new_session(server.add_user("alice"))
        await asyncio.sleep(2.1)  # token expiry has one-second resolution
        page = await phone_page(browser)
        try:
            said = await refused(page, created["family_link"])
            assert "out of date" in said, said
        finally:
            await page.context.close()
