"""End to end in Chromium on a phone set to Welsh (locale cy-GB): the family's page speaks the
phone's language, the picker switches it during the call without reconnecting (and the choice
survives a reload), the consent is asked and stored in Welsh, and a garbled link or the page
after the call are Welsh too. Screenshots go to /tmp/i18n-shots/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from tests.conftest import RunningServer, start_server
from tests.support.browser import PHONE_USER_AGENT, launch_browser
from tests.test_e2e_consent import COUNT_CAMERA_REQUESTS
from vigremote.state import CONSENT_WORDINGS, CONSENTS

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path("/tmp/i18n-shots")
STEP_TIMEOUT_MS = 10_000
EN: dict[str, str] = json.loads((ROOT / "web/i18n/en.json").read_text("utf-8"))
CY: dict[str, str] = json.loads((ROOT / "web/i18n/cy.json").read_text("utf-8"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    async with launch_browser() as shared:
        yield shared


@pytest_asyncio.fixture(loop_scope="module")
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(tmp_path / "data")
    yield running
    await runner.cleanup()


async def phone(browser: Browser, locale: str = "cy-GB") -> Page:
    """A phone whose language is `locale` (what navigator.languages says)."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_USER_AGENT,
        permissions=["camera", "microphone"],
        locale=locale,
        bypass_csp=True,  # Playwright's wait_for_function needs eval
    )
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    await page.add_init_script(COUNT_CAMERA_REQUESTS)
    return page


async def shows(page: Page, selector: str, text: str) -> None:
    """Wait until the element says exactly `text`."""
    await page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel);"
        " return e !== null && e.textContent.trim() === text; }",
        arg=[selector, text],
    )


async def text(page: Page, selector: str) -> str:
    return (await page.text_content(selector) or "").strip()


async def pick(page: Page, name: str) -> None:
    """Tap a language on the picker and wait until the page is in it."""
    button = page.locator("#language-picker button", has_text=name)
    await button.click()
    code = await button.get_attribute("lang")
    await page.wait_for_function("(code) => document.documentElement.lang === code", arg=code)
    assert await button.get_attribute("aria-pressed") == "true"


def joins(server: RunningServer) -> int:
    """How many times a family joined a call (a reconnection is one more)."""
    trail = server.store.audit_trail()
    return sum(1 for a in trail if a["action"] == "joined" and a["detail"]["role"] == "family")


def welsh_wording(server: RunningServer) -> dict[str, Any]:
    return server.app[CONSENT_WORDINGS]["cy"]


async def test_a_welsh_phone_is_spoken_to_in_welsh_and_can_switch_during_the_call(
    browser: Browser, server: RunningServer
) -> None:
    created = server.new_session(server.add_user("alice"))
    cy_wording, en_wording = welsh_wording(server), server.app[CONSENT_WORDINGS]["en"]
    page = await phone(browser)
    try:
        await page.goto(created["family_link"])
        # The start screen, before any camera prompt: Welsh, and the page says it is.
        await shows(page, "#status", CY["status.ready"])
        assert await page.evaluate("document.documentElement.lang") == "cy"
        assert await text(page, "h1") == CY["page.title"]
        assert await page.title() == CY["page.title"]
        assert await text(page, "#start") == CY["start.button"]
        assert await text(page, "#start-panel .filming-only") == CY["start.filming"]
        assert await page.evaluate("window.__cameraRequests") == 0
        picker = page.locator("#language-picker button")
        assert await picker.all_inner_texts() == ["English", "Cymraeg"]
        for box in [await b.bounding_box() for b in await picker.all()]:
            assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
        await page.screenshot(path=str(SHOTS / "welsh-start.png"))

        # The consent question, in Welsh, with the organisation's default lines in Welsh too.
        await page.click("#start")
        await page.wait_for_selector("#consent-purposes input")
        await shows(page, "#consent-title", cy_wording["title"])
        assert await text(page, "#consent-intro") == cy_wording["sessions"]["filming"]["intro"]
        labels = await page.locator("#consent-purposes label span").all_inner_texts()
        assert labels == [p["label"] for p in cy_wording["purposes"]]
        assert await text(page, "#consent-contact") == cy_wording["default_notes"]["contact_text"]
        assert await text(page, "#consent-agree") == CY["consent.agree"]
        assert await text(page, "#toggle-mic") == CY["button.mute"]
        await page.screenshot(path=str(SHOTS / "welsh-consent.png"), full_page=True)
        joined = joins(server)
        assert joined == 1

        # To English with the picker, mid-call: everything switches, a tick made is kept, and
        # the call is not reconnected.
        await page.check("#consent-purposes input[name=analysis]")
        await pick(page, "English")
        await shows(page, "#consent-title", en_wording["title"])
        assert await text(page, "#consent-intro") == en_wording["sessions"]["filming"]["intro"]
        assert await text(page, "#consent-agree") == EN["consent.agree"]
        assert await text(page, "#toggle-mic") == EN["button.mute"]
        assert await text(page, "h1") == EN["page.title"]
        assert await page.is_checked("#consent-purposes input[name=analysis]")
        await page.screenshot(path=str(SHOTS / "switched-to-english.png"))

        # And back to Welsh, where the family answers.
        await pick(page, "Cymraeg")
        await shows(page, "#consent-title", cy_wording["title"])
        assert await page.is_checked("#consent-purposes input[name=analysis]")
        await page.click("#toggle-mic")
        await shows(page, "#toggle-mic", CY["button.unmute"])
        assert await text(page, "#my-media") == CY["media.my-microphone-off"]
        await page.click("#consent-agree")
        await page.wait_for_selector("#consent-panel", state="hidden")
        # The practitioner has not joined: saved, and they will see it when they join.
        await shows(page, "#status", CY["consent.saved-waiting"])
        consent = server.app[CONSENTS].current(created["case_id"])
        assert consent is not None
        assert (consent.purposes, consent.language) == (["analysis"], "cy")
        # The family's own notices follow the picker too (the wording's did above).
        await pick(page, "English")
        await shows(page, "#status", EN["consent.saved-waiting"])
        assert await text(page, "#my-media") == EN["media.my-microphone-off"]
        assert joins(server) == joined

        # The choice is kept: a reload on this Welsh phone stays in English.
        await page.reload()
        await shows(page, "#status", EN["status.ready"])
        assert await page.evaluate("document.documentElement.lang") == "en"
        assert await text(page, "#start") == EN["start.button"]
    finally:
        await page.context.close()


@pytest.mark.parametrize("how", ["cut-short", "short-code", "too-many-guesses"])
async def test_a_garbled_link_is_explained_in_welsh(
    browser: Browser, server: RunningServer, how: str
) -> None:
    created = server.new_session(server.add_user("alice"))
    url, said = {
        "cut-short": (created["family_link"][:-12], "link.bad"),
        "short-code": (f"{server.url}/j/ZZZZZZZZ", "link.bad"),
        # Where /j/<code> sends an address that tried too many wrong codes (test_cases_links).
        "too-many-guesses": (f"{server.url}/f/?wait=30", "link.too-many"),
    }[how]
    page = await phone(browser)
    try:
        await page.goto(url)
        await shows(page, "#status", CY[said])
        await page.wait_for_selector("#help:not([hidden])")
        assert await text(page, "#help") == CY[f"{said}-help"]
        assert await page.evaluate("document.documentElement.lang") == "cy"
        assert await page.evaluate("window.__cameraRequests") == 0
        assert not await page.is_visible("#start")
        await page.screenshot(path=str(SHOTS / f"welsh-bad-link-{how}.png"))
        # The picker is there on this screen too.
        await pick(page, "English")
        await shows(page, "#status", EN[said])
    finally:
        await page.context.close()


async def test_after_the_call_a_welsh_family_takes_agreement_back_in_welsh(
    browser: Browser, server: RunningServer
) -> None:
    created = server.new_session(server.add_user("alice"))
    wording = welsh_wording(server)
    server.app[CONSENTS].record(
        created["case_id"],
        ["analysis", "shared_review"],
        wording["version"],
        "family",
        session_id=created["session"]["id"],
        language="en",
    )
    server.store.end_session(created["session"]["id"])
    page = await phone(browser)
    try:
        await page.goto(created["family_link"])
        await page.wait_for_selector("#consent-purposes input")
        await shows(page, "#consent-title", wording["after_call"]["title"])
        assert await text(page, "#status") == CY["ended.plain"]
        assert await text(page, "#consent-decline") == CY["consent.decline-after-call"]
        not_agreed = page.locator("#consent-purposes label.not-agreed small").first
        assert await not_agreed.inner_text() == CY["consent.not-agreed"]
        await page.uncheck("#consent-purposes input[name=shared_review]")
        await page.click("#consent-agree")
        await shows(page, "#consent-result", wording["after_call"]["saved"])
        await page.screenshot(path=str(SHOTS / "welsh-after-call.png"), full_page=True)
        consent = server.app[CONSENTS].current(created["case_id"])
        assert consent is not None
        assert (consent.purposes, consent.how, consent.language) == (
            ["analysis"],
            "family-link",
            "cy",
        )
    finally:
        await page.context.close()
