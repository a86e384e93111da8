"""End to end in Chromium: the family's consent, asked again at a review, taken back after the
call on their link, refused for a garbled link, and a withdrawal by letter on the case page.

One browser is shared by the module (each test starts its own server on a fresh data folder);
every step is photographed into /tmp/consent-shots/ so a person can look at what a parent sees.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize

from tests.conftest import RunningServer, start_server
from tests.review_helpers import make_clips
from tests.support.browser import launch_browser, new_desktop_context, new_phone_context
from tests.test_e2e_filming import practitioner_logs_in
from vigremote.state import CONSENT_WORDING, CONSENTS

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHOTS = Path("/tmp/consent-shots")
DESKTOP = ViewportSize(width=1280, height=720)
PHONE = ViewportSize(width=390, height=844)
STEP_TIMEOUT_MS = 10_000  # every step takes well under a second: fail fast, not after 30 s
# Counts the page's camera requests, to prove a page decided something before asking for one.
COUNT_CAMERA_REQUESTS = """
window.__cameraRequests = 0;
if (navigator.mediaDevices) {
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => {
    window.__cameraRequests += 1;
    return open(constraints);
  };
}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    async with launch_browser() as shared:
        yield shared


@pytest_asyncio.fixture(loop_scope="module")
async def live_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The conftest `server`, started on the module's loop (the shared browser lives there)."""
    runner, running = await start_server(tmp_path / "data")
    yield running
    await runner.cleanup()


async def phone_page(browser: Browser) -> Page:
    page = await (await new_phone_context(browser)).new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    await page.add_init_script(COUNT_CAMERA_REQUESTS)
    return page


async def desktop_page(browser: Browser) -> Page:
    page = await (await new_desktop_context(browser)).new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    await page.set_viewport_size(DESKTOP)
    return page


async def shot(page: Page, name: str) -> None:
    """What fits on the screen (a phone user sees no more without scrolling), then all of it."""
    await page.screenshot(path=str(SHOTS / f"{name}.png"))
    await page.screenshot(path=str(SHOTS / f"{name}-full.png"), full_page=True)


async def text(page: Page, selector: str) -> str:
    return (await page.text_content(selector) or "").strip()


async def ticks(page: Page) -> dict[str, tuple[bool, bool]]:
    """Each purpose on the consent form: (ticked, can be changed)."""
    found: dict[str, tuple[bool, bool]] = {}
    for box in await page.query_selector_all("#consent-purposes input[type=checkbox]"):
        name = await box.get_attribute("name") or ""
        found[name] = (await box.is_checked(), await box.is_enabled())
    return found


async def camera_requests(page: Page) -> int:
    return int(await page.evaluate("window.__cameraRequests"))


async def review_link(server: RunningServer) -> tuple[Any, str, str, str, str]:
    """A case filmed before (all but training agreed) and a shared review of one clip."""
    http, csrf, case_id, clips = await make_clips(
        server, ["analysis", "shared_review", "supervision"], [(30, 90)]
    )
    async with http.post(
        f"{server.url}/api/cases/{case_id}/reviews",
        json={"items": [{"kind": "clip", "id": clips[0]["id"]}]},
        headers={"X-CSRF-Token": csrf},
    ) as response:
        assert response.status == 201, await response.text()
        created = await response.json()
    return http, csrf, case_id, created["session"]["id"], created["family_link"]


async def test_review_asks_again_prefilled_then_family_withdraws_after_the_call(
    browser: Browser, live_server: RunningServer
) -> None:
    server = live_server
    review = server.app[CONSENT_WORDING]["sessions"]["review"]
    after_call = server.app[CONSENT_WORDING]["after_call"]
    http, csrf, case_id, session_id, link = await review_link(server)
    try:
        family = await phone_page(browser)
        await family.goto(link)
        await family.wait_for_function(
            "document.querySelector('#status').textContent.includes('Press the button')"
        )
        await shot(family, "1a-review-start-phone")
        assert await camera_requests(family) == 0

        # 1. The review asks again, with what the family agreed at the filming already ticked.
        await family.click("#start")
        await family.wait_for_selector("#consent-panel:not([hidden])")
        await family.wait_for_selector("#consent-purposes input")
        await shot(family, "1b-review-consent-prefilled-phone")
        assert await ticks(family) == {
            "analysis": (True, True),
            "shared_review": (True, True),
            "supervision": (True, True),
            "training": (False, True),
            "copies": (False, True),
        }
        intro = await text(family, "#consent-intro")
        assert intro == review["intro"] and "both cameras" in intro

        # Wait for the video to connect, whose status line would otherwise replace the answer.
        await family.wait_for_function(
            "document.querySelector('#status').textContent.includes('You are connected')"
        )
        # Taking analysis back still lets this call be recorded for the supervisor.
        await family.uncheck("#consent-purposes input[name=analysis]")
        await family.click("#consent-agree")
        await family.wait_for_selector("#consent-panel", state="hidden")
        status = await text(family, "#status")
        # Saved; the practitioner has not joined, so the page does not claim they may record now.
        waiting = json.loads((server.config.web_dir / "i18n" / "en.json").read_text("utf-8"))
        assert status == waiting["consent.saved-waiting"], status
        assert "Nothing will be recorded" not in status
        assert server.app[CONSENTS].current(case_id).purposes == [  # type: ignore[union-attr]
            "shared_review",
            "supervision",
        ]
        await shot(family, "1c-review-consent-saved-phone")

        # 2. The practitioner ends the session: the open page turns into "What you agreed to".
        async with http.post(
            f"{server.url}/api/sessions/{session_id}/end", headers={"X-CSRF-Token": csrf}
        ) as response:
            assert response.status == 200, await response.text()
        await family.wait_for_function(
            f"document.querySelector('#consent-title').textContent === {after_call['title']!r}"
            " && !document.querySelector('#consent-panel').hidden"
        )
        await shot(family, "2a-after-call-panel-phone")
        assert await text(family, "#consent-intro") == after_call["intro"]
        # Only what was agreed can be taken back; nothing new can be given here.
        assert await ticks(family) == {
            "analysis": (False, False),
            "shared_review": (True, True),
            "supervision": (True, True),
            "training": (False, False),
            "copies": (False, False),
        }
        await family.uncheck("#consent-purposes input[name=supervision]")
        await family.click("#consent-agree")
        await family.wait_for_function(
            f"document.querySelector('#consent-result').textContent === {after_call['saved']!r}"
        )
        await shot(family, "2b-after-call-saved-phone")
        assert server.app[CONSENTS].current(case_id).purposes == ["shared_review"]  # type: ignore[union-attr]
        # The form now shows the new agreement: supervision can no longer be ticked.
        assert await ticks(family) == {
            "analysis": (False, False),
            "shared_review": (True, True),
            "supervision": (False, False),
            "training": (False, False),
            "copies": (False, False),
        }

        # The link opened afresh after the call: straight to that panel, no camera asked for.
        fresh = await phone_page(browser)
        await fresh.goto(link)
        await fresh.wait_for_selector("#consent-panel:not([hidden])")
        await fresh.wait_for_selector("#consent-purposes input")
        await shot(fresh, "2c-link-reopened-after-call-phone")
        assert await text(fresh, "#consent-title") == after_call["title"]
        assert not await fresh.is_visible("#start")
        assert await camera_requests(fresh) == 0
        assert await ticks(fresh) == {
            "analysis": (False, False),
            "shared_review": (True, True),
            "supervision": (False, False),
            "training": (False, False),
            "copies": (False, False),
        }
        await fresh.context.close()
        await family.context.close()

        # The same link on a laptop, and the practitioner's case page, which shows the change.
        laptop = await desktop_page(browser)
        await laptop.add_init_script(COUNT_CAMERA_REQUESTS)
        await laptop.goto(link)
        await laptop.wait_for_selector("#consent-purposes input")
        await shot(laptop, "2d-link-reopened-after-call-desktop")
        assert await camera_requests(laptop) == 0
        await practitioner_logs_in(laptop, server, "alice")
        await laptop.goto(f"{server.url}/app#case/{case_id}")
        await laptop.wait_for_selector("#case-view:not([hidden])")
        summary = await text(laptop, "#case-consent")
        assert summary.startswith("Now agreed: shared review (") and "by you" not in summary
        await laptop.context.close()
    finally:
        await http.close()


async def test_garbled_link_is_refused_before_the_camera(
    browser: Browser, live_server: RunningServer
) -> None:
    server = live_server
    created = server.new_session(server.add_user("alice"))
    page = await phone_page(browser)
    await page.goto(created["family_link"][:-12])  # cut short, as a mail client may wrap it
    await page.wait_for_function(
        "document.querySelector('#status').textContent.startsWith('This link cannot be used')"
    )
    await shot(page, "3-garbled-link-phone")
    assert await camera_requests(page) == 0
    assert not await page.is_visible("#start")
    assert not await page.is_visible("#consent-panel")
    await page.context.close()


async def in_view(page: Page, text_wanted: str) -> bool:
    """Whether some visible element saying this text is on the screen as it is scrolled now."""
    return bool(
        await page.evaluate(
            """(wanted) => [...document.querySelectorAll('body *')].some((e) => {
                 if (e.children.length || !e.textContent.includes(wanted)) return false;
                 const r = e.getBoundingClientRect();
                 return r.height > 0 && r.bottom > 0 && r.top < window.innerHeight;
               })""",
            text_wanted,
        )
    )


async def test_after_call_confirmation_is_seen_where_the_parent_tapped(
    browser: Browser, live_server: RunningServer
) -> None:
    server = live_server
    created = server.new_session(server.add_user("alice"))
    version = server.app[CONSENT_WORDING]["version"]
    server.app[CONSENTS].record(
        created["case_id"],
        ["analysis", "shared_review"],
        version,
        "family",
        session_id=created["session"]["id"],
    )
    server.store.end_session(created["session"]["id"])
    page = await phone_page(browser)
    await page.goto(created["family_link"])
    await page.wait_for_selector("#consent-purposes input")
    await page.uncheck("#consent-purposes input[name=shared_review]")
    await page.click("#consent-agree")
    saved = server.app[CONSENT_WORDING]["after_call"]["saved"]
    await page.wait_for_function(
        f"document.querySelector('#consent-result').textContent === {saved!r}"
    )
    await shot(page, "2e-after-call-saved-where-tapped-phone")
    assert server.app[CONSENTS].current(created["case_id"]).purposes == ["analysis"]  # type: ignore[union-attr]
    try:
        assert await in_view(page, saved)
    finally:
        await page.context.close()


async def test_a_refused_link_says_so_once(browser: Browser, live_server: RunningServer) -> None:
    created = live_server.new_session(live_server.add_user("alice"))
    page = await phone_page(browser)
    await page.goto(created["family_link"][:-12])
    await page.wait_for_function(
        "document.querySelector('#status').textContent.startsWith('This link cannot be used')"
    )
    shown = await page.inner_text("main")
    await page.context.close()
    assert shown.count("This link cannot be used") == 1, shown


async def test_case_page_shows_consent_and_a_withdrawal_by_letter(
    browser: Browser, live_server: RunningServer
) -> None:
    server = live_server
    http, _csrf, case_id, _clips = await make_clips(
        server, ["analysis", "shared_review"], [(30, 90)]
    )
    await http.close()
    page = await desktop_page(browser)
    await practitioner_logs_in(page, server, "alice")
    await page.goto(f"{server.url}/app#case/{case_id}")
    await page.wait_for_selector("#case-view:not([hidden])")
    row = page.locator("#recordings tbody tr")
    await row.wait_for()
    before = await text(page, "#case-consent")
    assert before.startswith("Now agreed: your analysis, shared review"), before
    assert await row.locator("a.analyse").count() == 1
    await shot(page, "4a-case-consent-desktop")

    await page.click("#withdrawal summary")
    await page.uncheck("#withdrawal-purposes input[name=analysis]")
    await page.select_option("#withdrawal-form select[name=how]", "letter")
    await page.fill("#withdrawal-form input[name=note]", "Letter dated 3 March")
    await shot(page, "4b-withdrawal-form-desktop")
    await page.click("#withdrawal-form button[type=submit]")
    await page.wait_for_function(
        "document.querySelector('#case-consent').textContent.includes('letter')"
    )
    await row.wait_for()
    await shot(page, "4c-after-withdrawal-desktop")
    after = await text(page, "#case-consent")
    assert after.startswith("Now agreed: shared review ("), after
    assert "withdrawal recorded by you, letter" in after
    assert await row.locator("a.analyse").count() == 0
    assert "Not available" in (await row.text_content() or "")
    current = server.app[CONSENTS].current(case_id)
    assert current is not None
    assert (current.purposes, current.how, current.note) == (
        ["shared_review"],
        "letter",
        "Letter dated 3 March",
    )

    # The same page on a phone (a practitioner checking between visits).
    await page.set_viewport_size(PHONE)
    await shot(page, "4d-after-withdrawal-narrow")
    await page.context.close()
