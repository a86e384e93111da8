"""The shared review, driven over the protocol: everyone sees exactly the chosen frame."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from tests.conftest import RunningServer
from tests.review_helpers import make_clips, review, shown_number
from tests.support.browser import launch_browser, new_desktop_context, read_video_frame_number
from tests.test_e2e_filming import practitioner_logs_in
from tests.test_recording import decoded_numbers
from vigremote.state import CONSENT_WORDING


async def settled(review_clients: list, expected: int, timeout: float = 3.0) -> float:  # type: ignore[type-arg]
    """Wait until every viewer's last received picture is frame `expected`; returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(shown_number(c.clip_frames) == expected for c in review_clients):
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    got = [shown_number(c.clip_frames) for c in review_clients]
    raise AssertionError(f"viewers show {got}, expected {expected}")


async def test_pause_seek_and_step_show_the_same_exact_frame_to_everyone(
    server: RunningServer,
) -> None:
    async with review(server, [(75, 200), (10, 40)]) as r:
        viewers = [r.family, r.practitioner]
        first = r.clips[0]["first_frame"]
        # The first clip is shown paused on its first frame as soon as people join.
        await settled(viewers, first, timeout=10)

        state = await r.command(action="play")
        assert state["state"] == "playing"
        await asyncio.sleep(1.0)
        state = await r.command(action="pause")
        assert state["state"] == "paused"
        await settled(viewers, first + state["frame"])
        assert 15 <= state["frame"] <= 45  # about a second of 30 fps went by

        for action, expected in (
            ({"action": "seek", "frame": 47}, 47),  # off a keyframe (the clip's are 0 and 45)
            ({"action": "step", "delta": 1}, 48),
            ({"action": "step", "delta": -1}, 47),
            ({"action": "step", "delta": -1}, 46),
            ({"action": "seek", "frame": 44}, 44),  # back across a keyframe
            ({"action": "seek", "frame": 125}, 125),  # the last frame
        ):
            state = await r.command(**action)
            assert state["frame"] == expected
            await settled(viewers, first + expected)

        # Resume from a held frame: the pictures carry on in order, with no corruption.
        await r.command(action="seek", frame=50)
        await r.command(action="play")
        await asyncio.sleep(0.6)
        state = await r.command(action="pause")
        await settled(viewers, first + state["frame"])
        assert state["frame"] > 50

        # The next clip.
        state = await r.command(action="select", item=1)
        assert state["item"] == 1 and state["frame"] == 0
        await settled(viewers, r.clips[1]["first_frame"])


async def test_slow_motion_sends_frames_at_the_slower_pace(server: RunningServer) -> None:
    async with review(server, [(0, 299)]) as r:
        await settled([r.practitioner], 0, timeout=10)
        await r.command(action="speed", speed=0.5)
        before = len(r.practitioner.clip_frames)
        await r.command(action="play")
        await asyncio.sleep(2.0)
        state = await r.command(action="pause")
        sent = len(r.practitioner.clip_frames) - before
        assert 24 <= sent <= 40, sent  # 2 s at half of 30 fps
        assert 24 <= state["frame"] <= 40


async def test_the_family_asks_to_pause_and_cannot_drive(server: RunningServer) -> None:
    async with review(server, [(0, 299)]) as r:
        await r.command(action="play")
        await asyncio.sleep(0.7)
        before = len(r.family.messages)
        await r.family.send({"type": "review", "action": "play"})
        refused = await r.family.wait_for_any(("error",), after_index=before)
        assert refused["code"] == "not-allowed"
        await r.family.send({"type": "review", "action": "request-pause"})
        asked = await r.practitioner.wait_for("review-state", pause_request=None, after=0)
        request = None
        for _ in range(100):
            states = [m for m in r.practitioner.messages if m["type"] == "review-state"]
            request = states[-1]["pause_request"]
            if request:
                break
            await asyncio.sleep(0.02)
        assert request and request["by"] == "family" and asked
        state = await r.command(action="accept-pause")
        assert state["state"] == "paused" and state["frame"] == request["frame"]
        await settled([r.family, r.practitioner], r.clips[0]["first_frame"] + request["frame"])


async def test_the_family_never_receives_a_clip_url_or_file(server: RunningServer) -> None:
    async with review(server, [(75, 200)]) as r:
        await r.command(action="play")
        await asyncio.sleep(0.5)
        await r.command(action="pause")
        await asyncio.sleep(0.2)
        everything = json.dumps(r.family.messages)
        assert "/api/" not in everything
        assert ".webm" not in everything and ".mkv" not in everything
        # The pictures reached the family as video frames, not as a file.
        assert len(r.family.clip_frames) > 5
        # And a family's link opens no clip file: media needs a practitioner's login.
        family_token = r.session["family_link"].rsplit("/", 1)[1]
        async with aiohttp.ClientSession() as stranger:
            for url in (
                f"{server.url}/api/clips/{r.clips[0]['id']}/media",
                f"{server.url}/api/clips/{r.clips[0]['id']}/media?token={family_token}",
            ):
                async with stranger.get(
                    url, headers={"Authorization": f"Bearer {family_token}"}
                ) as response:
                    assert response.status == 401


async def test_clips_without_shared_review_consent_cannot_be_reviewed(
    server: RunningServer,
) -> None:
    http, csrf, case_id, clips = await make_clips(server, ["analysis"], [(10, 40)])
    try:
        async with http.post(
            f"{server.url}/api/cases/{case_id}/reviews",
            json={"items": [{"kind": "clip", "id": clips[0]["id"]}]},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "no-consent"
        async with http.get(f"{server.url}/api/cases/{case_id}") as response:
            kinds = [s["kind"] for s in (await response.json())["sessions"]]
        assert "review" not in kinds
    finally:
        await http.close()


async def test_a_recorded_review_replays_its_events_with_the_cameras(
    server: RunningServer,
) -> None:
    async with review(server, [(75, 200), (10, 40)], practitioner_camera=True) as r:
        # The family confirms in this call what they agreed to (see review_helpers): supervision
        # lets the review be recorded; analysis and shared review keep the clips on screen.
        version = server.app[CONSENT_WORDING]["version"]
        purposes = ["analysis", "shared_review", "supervision"]
        await r.family.send({"type": "consent", "version": version, "purposes": purposes})
        await r.practitioner.wait_for("consent", confirmed=True)
        await r.practitioner.send({"type": "record", "action": "start"})
        started = await r.practitioner.wait_for("recording", state="recording")
        await asyncio.sleep(1.0)
        await r.command(action="play")
        await asyncio.sleep(1.0)
        paused = await r.command(action="pause")
        await asyncio.sleep(0.5)
        await r.command(action="seek", frame=47)
        await asyncio.sleep(0.5)
        await r.command(action="select", item=1)
        await asyncio.sleep(1.0)
        await r.practitioner.send({"type": "record", "action": "stop"})
        await r.practitioner.wait_for("recording", state="stopped")
        async with r.http.get(
            f"{server.url}/api/recordings/{started['recording_id']}/timeline"
        ) as response:
            assert response.status == 200
            timeline = await response.json()
        cameras: dict[str, bytes] = {}
        for camera in timeline["cameras"]:
            async with r.http.get(f"{server.url}{camera['media_url']}") as response:
                assert response.status == 200
                cameras[camera["publisher"]] = await response.read()
    events = timeline["events"]
    actions = [e["action"] for e in events]
    # What was on screen when recording began (clip 1, held on frame 0), then every command.
    assert actions == ["select", "seek", "play", "pause", "seek", "select"], actions
    assert events[0]["id"] == r.clips[0]["id"] and events[1]["frame"] == 0
    times = [e["t_s"] for e in events]
    assert times == sorted(times) and times[0] < 0.5 and times[2] >= 0.9
    assert events[3]["frame"] == paused["frame"]
    assert events[4]["frame"] == 47
    assert events[5]["id"] == r.clips[1]["id"]
    [chapter] = timeline["chapters"]
    assert abs(chapter["t_s"] - times[3]) < 0.05
    # Both cameras were recorded, on the same timeline, covering every event.
    assert sorted(cameras) == ["family", "practitioner"]
    for publisher, data in cameras.items():
        path = server.config.data_dir / f"replay-{publisher}.webm"
        path.write_bytes(data)
        numbers, frame_times = decoded_numbers(str(path))
        assert None not in numbers
        assert frame_times[-1] >= times[-1] - 0.3
    # In a browser, the replay page's chapter shows exactly the frame the review paused on.
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/replay/{started['recording_id']}")
        await page.click("#chapters button")
        expected = r.clips[0]["first_frame"] + paused["frame"]
        seen = None
        for _ in range(100):
            seen = await read_video_frame_number(page, "#clip-video")
            if seen == expected:
                break
            await asyncio.sleep(0.05)
        assert seen == expected
        await browser.close()
    # The clips the review showed are listed with what the replay needs to seek exactly.
    assert set(timeline["clips"]) == {r.clips[0]["id"], r.clips[1]["id"]}
    assert len(timeline["clips"][r.clips[0]["id"]]["times_ms"]) == 126


async def test_stills_and_a_returning_participant_see_what_everyone_sees(
    server: RunningServer,
) -> None:
    async with review(server, [(75, 200)], still_frames=(133,)) as r:
        # A still is shown as one sharp picture, to everyone.
        state = await r.command(action="select", item=1)
        assert state["state"] == "still" and state["items"][1]["kind"] == "still"
        await settled([r.family, r.practitioner], 133)

        # Back to the clip, paused on a frame; the family's page reloads and comes back to it.
        await r.command(action="select", item=0)
        await r.command(action="seek", frame=30)
        await settled([r.family], 75 + 30)
        await r.family.pc.close()
        r.family.clip_frames.clear()
        await r.family.connect_media()
        await settled([r.family], 75 + 30, timeout=5)
