"""Supervision calls over real sockets (supervision/call.py): only the driver drives, and a call
among the trainee and peers is logged as a peer supervision, one with the supervisor as hours."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningServer
from tests.review_helpers import make_clips, record_a_review, recorded_pictures, shown_number
from tests.support.publisher import SimulatedFamily
from tests.test_supervision import logged_in
from vigremote.state import RATINGS, SUPERVISION

LIVE_BACKENDS = True  # conftest: each runs with the in-process live state and with Redis

PURPOSES = ["analysis", "shared_review", "supervision"]


async def test_the_driver_drives_and_a_peer_call_counts_as_peer_supervision(
    server: RunningServer,
) -> None:
    http, csrf, _, [clip] = await make_clips(server, PURPOSES, [(10, 69)])
    await http.close()
    pete = server.add_user("pete")
    alice = server.store.user_by_name("alice")
    assert alice is not None
    group = server.app[SUPERVISION].add_group("Peers", [alice.id, pete.id])
    async with logged_in(server, "alice") as as_alice, logged_in(server, "pete") as as_pete:
        status, body = await as_alice(
            "POST", "/api/shares", {"kind": "clip", "id": clip["id"], "to": f"group:{group}"}
        )
        assert status == 201
        status, body = await as_pete(
            "POST", "/api/supervision-calls", {"shares": [body["share"]["id"]]}
        )
        assert status == 201
        call_id = body["call"]["id"]
        tokens = [
            (await who("POST", f"/api/supervision-calls/{call_id}/join-token"))[1]["token"]
            for who in (as_pete, as_alice)
        ]
        peer, trainee = (SimulatedFamily(server.ws_url, t) for t in tokens)
        await peer.join(with_media=False)
        await trainee.join(with_media=False)
        driver = await trainee.wait_for("driver")
        assert driver["name"] == "Pete"  # the first one in drives
        await trainee.send({"type": "review", "action": "step", "delta": 1})
        refused = await trainee.wait_for("error")
        assert refused["code"] == "not-allowed" and "Pete is driving" in refused["message"]
        await peer.send({"type": "review", "action": "hand-over", "to": alice.id})
        handed = await trainee.wait_for("driver", name="Alice")
        assert handed["id"] == alice.id
        await trainee.send({"type": "review", "action": "step", "delta": 1})
        stepped = await trainee.wait_for("review-state", frame=1)
        assert stepped["state"] == "paused"
        await trainee.send({"type": "record", "action": "start"})
        await trainee.wait_for("error", message="supervision calls are not recorded")
        await asyncio.sleep(1.2)
        status, _ = await as_pete("POST", f"/api/supervision-calls/{call_id}/end")
        assert status == 403  # a peer does not end it
        status, _ = await as_alice("POST", f"/api/supervision-calls/{call_id}/end")
        assert status == 200
        await trainee.wait_for("ended")
        await peer.close()
        await trainee.close()
    [logged] = server.app[RATINGS].of_trainee(alice.id)
    assert logged.kind == "peer" and logged.duration_s >= 1.0


async def shows(viewers: list[SimulatedFamily], expected: dict[str, int]) -> None:
    """Wait until every viewer's last picture on each slot ("clip", "recorded-family", ...) is
    the expected number."""

    def seen(viewer: SimulatedFamily) -> dict[str, int | None]:
        slots = {"clip": viewer.clip_frames, **viewer.recorded_frames}
        return {name: shown_number(slots.get(name, [])) for name in expected}

    for _ in range(250):
        if all(seen(v) == expected for v in viewers):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"viewers show {[seen(v) for v in viewers]}, expected {expected}")


async def test_a_recorded_review_plays_both_cameras_and_the_clip_in_step(
    server: RunningServer,
) -> None:
    made = await record_a_review(server)
    family_frames, expected_at = recorded_pictures(server, made)
    sam = server.add_user("sam", role="supervisor")
    alice = server.store.user_by_name("alice")
    assert alice is not None
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    async with logged_in(server, "alice") as as_alice, logged_in(server, "sam") as as_sam:
        status, body = await as_alice(
            "POST", "/api/shares", {"kind": "recording", "id": made.recording_id}
        )
        assert status == 201, body
        status, body = await as_alice(
            "POST", "/api/supervision-calls", {"shares": [body["share"]["id"]]}
        )
        assert status == 201, body
        call_id = body["call"]["id"]
        tokens = [
            (await who("POST", f"/api/supervision-calls/{call_id}/join-token"))[1]["token"]
            for who in (as_alice, as_sam)
        ]
        trainee, supervisor = (SimulatedFamily(server.ws_url, t) for t in tokens)
        await trainee.join()
        await supervisor.join()
        viewers = [trainee, supervisor]
        state = await trainee.wait_for("review-state", state="paused")
        assert state["items"][0]["kind"] == "recording"
        assert state["cameras"] == ["family", "practitioner"]
        assert state["frames"] == family_frames

        frame = made.frame_while_held
        await trainee.send({"type": "review", "action": "seek", "frame": frame})
        await trainee.wait_for("review-state", state="paused", frame=frame)
        await shows(viewers, expected_at(frame))

        await trainee.send({"type": "review", "action": "step", "delta": 1})
        await trainee.wait_for("review-state", state="paused", frame=frame + 1)
        await shows(viewers, expected_at(frame + 1))

        # Played on past the moment the review moved its clip to frame 47, then paused.
        await trainee.send({"type": "review", "action": "play"})
        await trainee.wait_for("review-state", state="playing")
        await asyncio.sleep(1.2)
        held_before = [m for m in trainee.messages if m.get("state") == "paused"]
        await trainee.send({"type": "review", "action": "pause"})
        paused = await trainee.wait_for("review-state", state="paused", after=len(held_before))
        assert paused["frame"] > frame + 20
        await shows(viewers, expected_at(paused["frame"]))
        await trainee.close()
        await supervisor.close()
