"""The governance pages in Chromium: the case page's "Keeping and deleting" section (close, legal
hold, deletion dates, export, who has seen, erasure with the case's name) and the admin's audit
page (filters; refused to a practitioner)."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date, timedelta

from playwright.async_api import Page

from tests.conftest import RunningServer
from tests.review_helpers import make_clips
from tests.support.browser import launch_browser, new_desktop_context
from tests.support.seeded import log_in


async def says(page: Page, selector: str, text: str) -> None:
    await page.wait_for_function(
        "([s, t]) => (document.querySelector(s).textContent || '').includes(t)",
        arg=[selector, text],
        timeout=15_000,
    )


async def test_a_practitioner_closes_holds_exports_and_erases_a_case(
    server: RunningServer,
) -> None:
    http, _, case_id, _ = await make_clips(server, ["analysis", "shared_review"], [(10, 69)])
    await http.close()
    label = server.store.case(case_id).label
    async with launch_browser() as browser:
        context = await new_desktop_context(browser)
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await log_in(page, server)
        await page.goto(f"{server.url}/app#case/{case_id}")
        await says(page, "#gov-state", "The case is open.")
        await says(page, "#gov-dates", "Nothing is due for deletion yet")

        await page.click("#case-close")
        await says(page, "#gov-state", "closed on")
        kept_until = date.today() + timedelta(days=server.config.retain_days_after_close)
        await says(page, "#gov-dates", str(kept_until.year))
        await says(page, "#gov-dates", "The whole case")
        assert await page.is_visible("#case-reopen")

        await page.click("#hold summary")
        await page.fill("#hold-form input[name=reason]", "Family court, case 12")
        await page.click("#hold-form button[type=submit]")
        await says(page, "#gov-state", "Family court, case 12")
        await says(page, "#gov-dates", "held: not deleted")
        assert server.store.case(case_id).legal_hold is not None

        await page.click("#case-export")
        await page.wait_for_selector("#export-download:not([hidden])")
        async with page.expect_download() as waiting:
            await page.click("#export-download")
        archive = await (await waiting.value).path()
        with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as exported:
            names = exported.namelist()
        assert "index.html" in names and any(n.startswith("clips/") for n in names)

        await page.click("#views summary")
        await says(page, "#views-table", "exported the case")
        await says(page, "#views-table", "downloaded the export")

        # Erasure: the wrong name erases nothing; on hold it is refused; then it goes.
        await page.click("#erase summary")
        await page.fill("#erase-form input[name=confirm]", label + "x")
        await page.click("#erase-form button[type=submit]")
        await says(page, "#message", "nothing was erased")
        await page.fill("#erase-form input[name=confirm]", label)
        await page.click("#erase-form button[type=submit]")
        await says(page, "#message", "legal hold")
        assert server.store.case(case_id).label == label
        await page.click("#hold-lift")
        await page.wait_for_selector("#hold-lift", state="hidden")
        assert await page.evaluate("document.querySelector('#erase').open")  # still open
        await page.fill("#erase-form input[name=confirm]", label)
        await page.click("#erase-form button[type=submit]")
        await page.wait_for_selector("#cases-view:not([hidden])")
        await says(page, "#message", "is erased")
        assert await page.locator("#cases a").count() == 0
        assert "case-erased" in [e["action"] for e in server.store.audit_trail()]


async def test_the_audit_page_filters_for_an_admin_and_refuses_a_practitioner(
    server: RunningServer,
) -> None:
    server.add_user("alice")
    server.add_user("ada", role="admin")
    server.store.audit("someone", "clip-viewed", "clip:abc")
    async with launch_browser() as browser:
        admin = await (await new_desktop_context(browser)).new_page()
        await log_in(admin, server, "ada")
        assert await admin.is_visible("#audit-link")
        await admin.click("#audit-link")
        await admin.wait_for_selector("#audit tbody tr")
        actions = await admin.locator("#audit tbody tr td:nth-child(3)").all_text_contents()
        assert {"login", "clip-viewed"} <= set(actions)
        await admin.fill("#audit-filter input[name=action]", "login")
        await admin.click("#audit-filter button[type=submit]")
        logins = sum(e["action"] == "login" for e in server.store.audit_trail())
        await says(admin, "#audit-count", f"{logins} entr")
        actions = await admin.locator("#audit tbody tr td:nth-child(3)").all_text_contents()
        assert set(actions) == {"login"}
        assert "action=login" in admin.url
        today = time.strftime("%Y-%m-%d")
        await admin.fill("#audit-filter input[name=until]", "2000-01-01")
        await admin.click("#audit-filter button[type=submit]")
        await says(admin, "#audit-count", "No entries match")
        await admin.fill("#audit-filter input[name=until]", today)
        await admin.click("#audit-filter button[type=submit]")
        await says(admin, "#audit-count", f"{logins} entr")

        practitioner = await (await new_desktop_context(browser)).new_page()
        await log_in(practitioner, server, "alice")
        assert not await practitioner.is_visible("#audit-link")
        await practitioner.goto(f"{server.url}/audit")
        await practitioner.wait_for_selector("#cannot-open:not([hidden])")
        await says(practitioner, "#cannot-open-text", "nly an admin can read")


async def test_the_cases_list_warns_before_a_deletion(server: RunningServer) -> None:
    alice = server.add_user("alice")
    case = server.store.add_case(alice.id, "Closed long ago")
    closed = time.time() - (server.config.retain_days_after_close - 3) * 86400
    server.store.set_case_closed(case.id, closed)
    server.store.add_case(alice.id, "Still open")
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await log_in(page, server, "alice")
        await page.wait_for_selector("#cases .deletion-soon")
        items = await page.locator("#cases li").all_text_contents()
        warned = [i for i in items if "will be deleted on" in i]
        assert len(warned) == 1 and warned[0].startswith("Closed long ago"), items
