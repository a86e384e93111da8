"""Supervision in Chromium: a trainee shares a clip from the case page; their supervisor logs in,
lands on the supervision page, sees exactly that item (no case label), comments on a frame, and
a click on a comment shows that exact frame (read from the video's pixels)."""

from __future__ import annotations

from playwright.async_api import Page

from tests.conftest import PASSWORD, RunningServer
from tests.review_helpers import make_clips
from tests.support.browser import launch_browser, new_desktop_context, read_video_frame_number
from tests.support.seeded import log_in
from vigremote.state import SUPERVISION

FIRST = 10  # the clip holds the recording's frames 10..69, each showing its number


async def shown_frame(page: Page) -> int | None:
    await page.wait_for_function(
        "() => { const v = document.querySelector('#viewer-media video');"
        " return v && v.readyState >= 2 && !v.seeking; }"
    )
    return await read_video_frame_number(page, "#viewer-media video")


async def test_a_trainee_shares_and_the_supervisor_comments_on_an_exact_frame(
    server: RunningServer,
) -> None:
    http, _, case_id, [clip] = await make_clips(
        server, ["analysis", "shared_review", "supervision"], [(FIRST, 69)]
    )
    await http.close()
    sam = server.add_user("sam", role="supervisor")
    alice = server.store.user_by_name("alice")
    assert alice is not None
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    label = server.store.case(case_id).label

    async with launch_browser() as browser:
        trainee = await (await new_desktop_context(browser)).new_page()
        await log_in(trainee, server, "alice")
        await trainee.goto(f"{server.url}/app#case/{case_id}")
        await trainee.click(f"tr[data-clip-id='{clip['id']}'] button.share")
        await trainee.wait_for_function(
            "document.querySelector('#message').textContent.includes('shared with your supervisor')"
        )

        supervisor = await (await new_desktop_context(browser)).new_page()
        await supervisor.goto(f"{server.url}/app")
        await supervisor.fill("input[name=username]", "sam")
        await supervisor.fill("input[name=password]", PASSWORD)
        await supervisor.click("#login-form button[type=submit]")
        await supervisor.wait_for_url("**/supervision")
        await supervisor.wait_for_selector("#shares tbody tr[data-share-id]")
        rows = await supervisor.locator("#shares tbody tr[data-share-id]").all_text_contents()
        assert len(rows) == 1 and "Clip 10" in rows[0] and "Family 1" in rows[0]
        assert label not in (await supervisor.content())
        assert "Alice" in (await supervisor.text_content("#links") or "")

        await supervisor.click("#shares button.open-share")
        await supervisor.wait_for_selector("#viewer:not([hidden])")
        assert await shown_frame(supervisor) == FIRST
        # A comment typed on the page goes on the frame shown (the first one).
        [share] = server.app[SUPERVISION].shares()
        await supervisor.fill("#comment-form input[name=text]", "She waits for his cue")
        await supervisor.select_option("#comment-form select[name=tag]", "strength")
        await supervisor.click("#comment-form button[type=submit]")
        await supervisor.wait_for_selector("#comments li[data-frame]")
        [first_comment] = server.app[SUPERVISION].comments(share.id)
        assert (first_comment.frame, first_comment.tag) == (0, "strength")

        # A comment on a later frame (made by the trainee), then jump to it from the list.
        server.app[SUPERVISION].add_comment(share, alice.id, 25, "question", "What came next?")
        await supervisor.click("#shares button.open-share")
        await supervisor.wait_for_selector("#comments li[data-frame='25']")
        await supervisor.click("#comments li[data-frame='25'] button.comment-jump")
        await supervisor.wait_for_function(
            "document.querySelector('#viewer-frame').textContent.includes('frame 25')"
        )
        assert await shown_frame(supervisor) == FIRST + 25
        await supervisor.click("#comments li[data-frame='0'] button.comment-jump")
        await supervisor.wait_for_function(
            "document.querySelector('#viewer-frame').textContent.includes('frame 0)')"
        )
        assert await shown_frame(supervisor) == FIRST


async def test_an_admin_links_a_trainee_on_the_page(server: RunningServer) -> None:
    alice = server.add_user("alice")
    sam = server.add_user("sam", role="supervisor")
    server.add_user("ada", role="admin")
    async with launch_browser() as browser:
        admin = await (await new_desktop_context(browser)).new_page()
        await log_in(admin, server, "ada")
        await admin.goto(f"{server.url}/supervision")
        await admin.wait_for_selector("#admin:not([hidden])")
        await admin.fill("#link-form input[name=trainee]", "alice")
        await admin.fill("#link-form input[name=supervisor]", "sam")
        await admin.click("#link-form button[type=submit]")
        await admin.wait_for_selector("#link-history tbody tr")
        assert "Sam" in (await admin.text_content("#link-history") or "")
        assert server.app[SUPERVISION].supervisor_of(alice.id) == sam.id
        await admin.fill("#link-form input[name=trainee]", "sam")
        await admin.fill("#link-form input[name=supervisor]", "alice")
        await admin.click("#link-form button[type=submit]")
        await admin.wait_for_function(
            "document.querySelector('#message').textContent.includes('is not a practitioner')"
        )
        assert server.app[SUPERVISION].supervisor_of(sam.id) is None


async def test_progress_ratings_side_by_side_and_sign_off_on_the_page(
    server: RunningServer,
) -> None:
    from tests.test_supervision_progress import seed_history_in
    from vigremote.state import RATINGS, RECORDS

    alice = server.add_user("alice")
    sam = server.add_user("sam", role="supervisor")
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    seed_history_in(server.app[RECORDS], alice)
    _, scale = server.app[RATINGS].current_scale()
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await log_in_as_supervisor(page, server)
        await page.click("#progress-links a")
        await page.wait_for_selector("#figures tbody tr")
        figures = await page.locator("#figures tbody tr").all_text_contents()
        assert any("VIG cycles completed" in row and "3" in row for row in figures), figures
        await page.wait_for_function(
            "document.querySelector('#chart').complete"
            " && document.querySelector('#chart').naturalWidth > 0"
        )
        await page.fill("#entry-form input[name=minutes]", "75")
        await page.fill("#entry-form input[name=date]", "2026-11-30")
        await page.click("#entry-form button[type=submit]")
        await page.wait_for_selector("#log tbody tr[data-supervision-id]")
        [entry] = server.app[RATINGS].of_trainee(alice.id)
        assert entry.duration_s == 75 * 60
        # The trainee has rated themself (all at the lowest level).
        lowest = scale["levels"][0]["value"]
        server.app[RATINGS].rate(entry, "self", alice.id, {i["id"]: lowest for i in scale["items"]})
        await page.reload()
        await page.click("#log button.open-entry")
        await page.wait_for_selector("#entry:not([hidden])")
        highest = str(scale["levels"][-1]["value"])
        for select in await page.locator("#rating-items select").all():
            await select.select_option(highest)
        await page.click("#rating-form button[type=submit]")
        await page.wait_for_function(
            "document.querySelector('#message').textContent.includes('Rating saved')"
        )
        rows = await page.locator("#side-by-side tbody tr").all_text_contents()
        assert len(rows) == len(scale["items"])
        assert all(f"{lowest} (" in row and f"{highest} (" in row for row in rows), rows
        await page.fill("#agreement-form textarea[name=strengths]", "Warm pacing")
        await page.fill("#agreement-form textarea[name=next_steps]", "Name feelings")
        await page.click("#agreement-form button[type=submit]")
        await page.wait_for_function("document.querySelector('#message').textContent === 'Saved.'")
        await page.click("#sign-off")
        await page.wait_for_selector("#sign-off", state="hidden")
        assert server.app[RATINGS].get(entry.id).signed_off_at is not None
        assert await page.is_disabled("#rating-form button[type=submit]")


async def log_in_as_supervisor(page: Page, server: RunningServer) -> None:
    await page.goto(f"{server.url}/app")
    await page.fill("input[name=username]", "sam")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/supervision")
    await page.wait_for_selector("#progress-links a")
