"""A supervision call in three Chromium browsers (trainee, supervisor, peer): the server plays the
trainee's shared clip, and a recorded shared review with both its cameras beside the clip; after
seek, step and a pause every browser shows the chosen frame of each (read from the pixels);
control is handed from the trainee to the supervisor; a consent withdrawal
takes the clip out of the running call; ending it puts its length in the supervision log.
And who may join: not another trainee, never a family link."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from playwright.async_api import Page

from tests.conftest import PASSWORD, RunningServer
from tests.review_helpers import make_clips, record_a_review, recorded_pictures
from tests.support.browser import launch_browser, new_desktop_context, read_video_frame_number
from tests.test_e2e_review import all_show
from tests.test_supervision import logged_in
from vigremote.state import CONSENT_WORDING, RATINGS, SIGNER, SUPERVISION

PURPOSES = ["analysis", "shared_review", "supervision"]


async def log_in(page: Page, server: RunningServer, username: str) -> None:
    await page.goto(f"{server.url}/app")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_function(
        "!document.querySelector('#login-view') || document.querySelector('#login-view').hidden"
    )


async def state_frame(page: Page) -> int:
    await asyncio.sleep(0.3)  # the state message that follows a command
    return int(await page.get_attribute("#review-frame", "data-frame") or -1)


async def drives(page: Page) -> None:
    await page.wait_for_function("document.querySelector('#driver').textContent === 'you'")


async def test_a_supervision_call_shows_the_same_frame_and_hands_over_control(
    server: RunningServer,
) -> None:
    http, csrf, case_id, [clip] = await make_clips(server, PURPOSES, [(75, 200)])
    sam = server.add_user("sam", role="supervisor")
    server.add_user("pete")
    alice = server.store.user_by_name("alice")
    assert alice is not None
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    group = server.app[SUPERVISION].add_group(
        "Peers", [alice.id, server.store.user_by_name("pete").id]
    )  # type: ignore[union-attr]
    for to in ("supervisor", f"group:{group}"):
        async with http.post(
            f"{server.url}/api/shares",
            json={"kind": "clip", "id": clip["id"], "to": to},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
    first = clip["first_frame"]

    async with launch_browser() as browser:
        trainee = await (await new_desktop_context(browser)).new_page()
        supervisor = await (await new_desktop_context(browser)).new_page()
        peer = await (await new_desktop_context(browser)).new_page()
        trainee.on("dialog", lambda d: d.accept())
        supervisor.on("dialog", lambda d: d.accept())
        await log_in(trainee, server, "alice")
        await trainee.goto(f"{server.url}/supervision")
        await trainee.click("#call-buttons button.start-call")
        await trainee.wait_for_url("**/supervision-call/*")
        call_url = trainee.url
        call_id = call_url.rsplit("/", 1)[1]
        await drives(trainee)  # the one who opened it drives first
        await log_in(supervisor, server, "sam")
        await supervisor.goto(call_url)
        await log_in(peer, server, "pete")
        await peer.goto(call_url)
        pages = [trainee, supervisor, peer]
        for page in pages:
            await page.wait_for_function("document.querySelector('#driver').textContent.length > 0")
        assert await supervisor.text_content("#driver") == "Alice"
        assert await peer.is_disabled("#play")
        await all_show(pages, first, timeout=15.0)

        # Seek, step, play and pause: the same frame on every screen.
        await trainee.eval_on_selector(
            "#scrub", "(e) => { e.value = '40'; e.dispatchEvent(new Event('change')); }"
        )
        await all_show(pages, first + 40)
        await trainee.click("#step-forward")
        await all_show(pages, first + 41)
        await trainee.click("#play")
        await asyncio.sleep(1.0)
        await trainee.click("#play")  # now "Pause"
        held = await state_frame(trainee)
        assert held > 41
        await all_show(pages, first + held)

        # The trainee hands control to the supervisor, who steps back.
        await trainee.select_option("#hand-to", label="Sam")
        await trainee.click("#hand-over button[type=submit]")
        await drives(supervisor)
        await trainee.wait_for_function("document.querySelector('#driver').textContent === 'Sam'")
        assert await trainee.is_disabled("#step-back")
        await supervisor.click("#step-back")
        await all_show(pages, first + held - 1)

        # The family withdraws supervision: the clip leaves the running call at once.
        version = server.app[CONSENT_WORDING]["version"]
        async with http.post(
            f"{server.url}/api/cases/{case_id}/consent",
            json={"purposes": ["analysis", "shared_review"], "how": "phone"},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, (version, await response.text())
        for page in pages:
            await page.wait_for_function(
                "document.querySelector('#review-state').textContent.includes('taken back')"
            )
            assert await page.locator("#playlist li").count() == 0

        await supervisor.click("#end-call")
        for page in pages:
            await page.wait_for_function(
                "document.querySelector('#live-state').dataset.state === 'ended'"
            )
    await http.close()
    [logged] = server.app[RATINGS].of_trainee(alice.id)
    assert logged.kind == "call" and logged.duration_s > 1.0
    assert logged.supervisor_id == sam.id

    # After the end, nobody joins again.
    async with logged_in(server, "alice") as as_alice:
        status, _ = await as_alice("POST", f"/api/supervision-calls/{call_id}/join-token")
        assert status == 409


async def test_only_those_shown_the_items_join_and_never_a_family_link(
    server: RunningServer,
) -> None:
    http, csrf, _, [clip] = await make_clips(server, PURPOSES, [(10, 69)])
    sam = server.add_user("sam", role="supervisor")
    server.add_user("bob")
    server.add_user("sue", role="supervisor")
    alice = server.store.user_by_name("alice")
    assert alice is not None
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    async with http.post(
        f"{server.url}/api/shares",
        json={"kind": "clip", "id": clip["id"]},
        headers={"X-CSRF-Token": csrf},
    ) as response:
        share = (await response.json())["share"]
    async with http.post(
        f"{server.url}/api/supervision-calls",
        json={"shares": [share["id"]]},
        headers={"X-CSRF-Token": csrf},
    ) as response:
        assert response.status == 201
        call_id = (await response.json())["call"]["id"]
    await http.close()
    async with (
        logged_in(server, "sam") as as_sam,
        logged_in(server, "bob") as as_bob,
        logged_in(server, "sue") as as_sue,
    ):
        status, body = await as_sam("POST", f"/api/supervision-calls/{call_id}/join-token")
        assert status == 200 and body["token"]
        for stranger in (as_bob, as_sue):
            status, _ = await stranger("POST", f"/api/supervision-calls/{call_id}/join-token")
            assert status == 403
        status, _ = await as_bob("POST", "/api/supervision-calls", {"shares": [share["id"]]})
        assert status == 403

    # A family token naming the call (as if one could be had) is refused at the handshake.
    token = server.app[SIGNER].issue(call_id, "family", "family-x", "Family", 60)
    async with aiohttp.ClientSession() as client, client.ws_connect(server.ws_url) as ws:
        await ws.send_str(json.dumps({"type": "hello", "version": 1, "token": token}))
        said = ""
        while True:  # an error message, then the close (its reason says the same)
            reply = await ws.receive(timeout=10)
            if reply.type == aiohttp.WSMsgType.TEXT:
                said += reply.data
                continue
            said += str(reply.extra or "")
            break
        assert reply.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )
        assert "never joins a supervision call" in said, said


async def all_show_recorded(pages: list[Page], expected: dict[str, int]) -> None:
    """Every page shows `expected` on the clip and on each recorded camera (read from pixels)."""
    seen: list[dict[str, int | None]] = []
    for _ in range(100):
        seen = [
            {slot: await read_video_frame_number(p, f"#{slot}-video") for slot in expected}
            for p in pages
        ]
        if all(s == expected for s in seen):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"pages show {seen}, expected {expected}")


async def test_a_recorded_review_shows_both_cameras_and_the_clip_at_one_moment_everywhere(
    server: RunningServer,
) -> None:
    made = await record_a_review(server)
    frames, expected_at = recorded_pictures(server, made)
    sam = server.add_user("sam", role="supervisor")
    pete = server.add_user("pete")
    alice = server.store.user_by_name("alice")
    assert alice is not None
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    group = server.app[SUPERVISION].add_group("Peers", [alice.id, pete.id])
    async with logged_in(server, "alice") as as_alice:
        for kind, item in (("recording", made.recording_id), ("clip", made.clip["id"])):
            for to in ("supervisor", f"group:{group}"):
                status, body = await as_alice(
                    "POST", "/api/shares", {"kind": kind, "id": item, "to": to}
                )
                assert status == 201, body

    async with launch_browser() as browser:
        pages = [await (await new_desktop_context(browser)).new_page() for _ in range(3)]
        trainee, supervisor, peer = pages
        # The supervisor sees exactly what was shared: the recorded review and the clip.
        await log_in(supervisor, server, "sam")
        await supervisor.goto(f"{server.url}/supervision")
        await supervisor.wait_for_selector("#shares tbody tr[data-share-id]")
        rows = await supervisor.locator("#shares tbody tr[data-share-id]").all_text_contents()
        assert len(rows) == 2, rows
        assert any("Recorded shared review" in r for r in rows)
        assert any("Clip 30" in r for r in rows)
        # The trainee starts a call on both from the supervision page; the others join.
        await log_in(trainee, server, "alice")
        await trainee.goto(f"{server.url}/supervision")
        await trainee.click("#call-buttons button.start-call")
        await trainee.wait_for_url("**/supervision-call/*")
        await supervisor.goto(trainee.url)
        await log_in(peer, server, "pete")
        await peer.goto(trainee.url)
        await drives(trainee)
        await trainee.click("#playlist button:has-text('Recorded shared review')")
        for page in pages:
            await page.wait_for_function(
                "!document.querySelector('#recorded-cameras').hidden"
                " && document.querySelector('#review-frames').textContent !== '0'"
            )
        assert await trainee.text_content("#review-frames") == str(frames)

        # Seek to a moment the review held its clip: all three pictures, on every screen.
        frame = made.frame_while_held
        await trainee.eval_on_selector(
            "#scrub", f"(e) => {{ e.value = '{frame}'; e.dispatchEvent(new Event('change')); }}"
        )
        await all_show_recorded(pages, expected_at(frame))
        await trainee.click("#step-forward")
        await all_show_recorded(pages, expected_at(frame + 1))
        await trainee.click("#play")
        await asyncio.sleep(1.2)
        await trainee.click("#play")  # now "Pause"
        held = await state_frame(trainee)
        assert held > frame + 10
        await all_show_recorded(pages, expected_at(held))

        # Control handed to the supervisor, who steps back: the same again.
        await trainee.select_option("#hand-to", label="Sam")
        await trainee.click("#hand-over button[type=submit]")
        await drives(supervisor)
        await supervisor.click("#step-back")
        await all_show_recorded(pages, expected_at(held - 1))
        await browser.close()
