"""Supervision calls over real sockets (supervision/call.py): only the driver drives, and a call
among the trainee and peers is logged as a peer supervision, one with the supervisor as hours."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningServer
from tests.review_helpers import make_clips
from tests.support.publisher import SimulatedFamily
from tests.test_supervision import logged_in
from vigremote.state import RATINGS, SUPERVISION

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
