"""Supervision, first part (supervision/): admins link trainees to supervisors and peer groups;
a trainee shares clips, stills and recorded shared reviews, only with the family's consent;
a supervisor sees exactly what their trainees shared (pseudonymised), nothing else; comments
on frames; a withdrawal (consent or share) and a change of supervisor take effect at once."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import av

from tests.conftest import RunningServer, login
from tests.review_helpers import make_clips, review
from vigremote.governance.erasure import erase_case
from vigremote.governance.export import export_case
from vigremote.state import CONSENT_WORDING, CONSENTS, RECORDS, STORE

PURPOSES = ["analysis", "shared_review", "supervision"]


@asynccontextmanager
async def logged_in(server: RunningServer, username: str) -> AsyncIterator[Any]:
    """An HTTP client logged in as `username`, with a call(method, path, body) helper."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server, username)

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            async with http.request(
                method, server.url + path, json=body, headers={"X-CSRF-Token": csrf}
            ) as response:
                raw = await response.read()
                try:
                    return response.status, json.loads(raw)
                except ValueError:
                    return response.status, raw

        yield call


def frames_in(data: bytes) -> int:
    with av.open(io.BytesIO(data), "r") as container:
        return sum(1 for _ in container.decode(video=0))


async def test_sharing_follows_links_groups_and_the_familys_consent(
    server: RunningServer,
) -> None:
    http, _, case_id, [clip] = await make_clips(server, PURPOSES, [(10, 69)])
    await http.close()
    _, _, other_case, [unconsented] = await make_clips_for(server, "alice", ["analysis"], (5, 20))
    for name, role in [("sam", "supervisor"), ("sue", "supervisor"), ("ada", "admin")]:
        server.add_user(name, role=role)
    for name in ("pete", "bob"):
        server.add_user(name)
    label = server.store.case(case_id).label

    async with (
        logged_in(server, "alice") as alice,
        logged_in(server, "sam") as sam,
        logged_in(server, "sue") as sue,
        logged_in(server, "ada") as ada,
        logged_in(server, "pete") as pete,
        logged_in(server, "bob") as bob,
    ):
        # Only an admin links; sharing needs a supervisor first.
        status, _ = await alice(
            "POST", "/api/supervision/links", {"trainee": "alice", "supervisor": "sam"}
        )
        assert status == 403
        status, body = await alice("POST", "/api/shares", {"kind": "clip", "id": clip["id"]})
        assert status == 409 and body["error"]["code"] == "no-supervisor"
        status, _ = await ada(
            "POST", "/api/supervision/links", {"trainee": "alice", "supervisor": "sam"}
        )
        assert status == 201
        status, body = await ada(
            "POST", "/api/supervision/links", {"trainee": "sam", "supervisor": "sue"}
        )
        assert status == 400  # a supervisor is not a trainee

        # A family who did not agree to supervision: never shared.
        status, body = await alice("POST", "/api/shares", {"kind": "clip", "id": unconsented["id"]})
        assert status == 403 and body["error"]["code"] == "no-consent"
        status, body = await alice("POST", "/api/shares", {"kind": "clip", "id": clip["id"]})
        assert status == 201, body
        share = body["share"]
        status, _ = await bob("POST", "/api/shares", {"kind": "clip", "id": clip["id"]})
        assert status == 403  # not bob's case

        # The supervisor sees exactly that, pseudonymised, and can play it.
        status, body = await sam("GET", "/api/shares")
        assert [s["id"] for s in body["shares"]] == [share["id"]]
        assert body["shares"][0]["family"] == "Family 1"
        status, opened = await sam("GET", f"/api/shares/{share['id']}")
        assert status == 200 and len(opened["frames"]["times_ms"]) == 60
        assert label not in json.dumps(opened) and label not in json.dumps(body)
        status, media = await sam("GET", opened["media"][0])
        assert status == 200 and frames_in(media) == 60
        # ... but nothing else: not the case, its recording, the clip's own address.
        for path in (
            f"/api/cases/{case_id}",
            f"/api/recordings/{clip['recording_id']}",
            f"/api/clips/{clip['id']}/media",
            f"/api/cases/{other_case}/clips",
        ):
            status, _ = await sam("GET", path)
            assert status == 403, path
        # Another supervisor and another trainee see nothing of it.
        for other in (sue, bob, pete):
            status, body = await other("GET", "/api/shares")
            assert body["shares"] == []
            status, _ = await other("GET", f"/api/shares/{share['id']}")
            assert status == 403

        # Comments on a frame, visible to both, editable by their author only.
        status, body = await sam(
            "POST",
            f"/api/shares/{share['id']}/comments",
            {"frame": 12, "tag": "strength", "text": "Lovely wait"},
        )
        assert status == 201
        comment = body["comment"]
        status, _ = await sam(
            "POST", f"/api/shares/{share['id']}/comments", {"frame": 1, "tag": "x", "text": "y"}
        )
        assert status == 400
        status, opened = await alice("GET", f"/api/shares/{share['id']}")
        [seen] = opened["comments"]
        assert (seen["frame"], seen["tag"], seen["text"], seen["author"], seen["editable"]) == (
            12,
            "strength",
            "Lovely wait",
            "Sam",
            False,
        )
        status, _ = await alice("PATCH", f"/api/comments/{comment['id']}", {"text": "mine now"})
        assert status == 403
        status, body = await sam(
            "PATCH",
            f"/api/comments/{comment['id']}",
            {"text": "Lovely long wait", "tag": "question"},
        )
        assert status == 200 and body["comment"]["text"] == "Lovely long wait"
        # The comment can describe the family: sealed with the case's key, never in plain.
        server.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for path in server.config.data_dir.rglob("*"):
            if path.is_file():
                assert b"Lovely long wait" not in path.read_bytes(), path

        # A peer group sees what was shared with it, and nothing shared with the supervisor.
        status, body = await ada(
            "POST",
            "/api/supervision/groups",
            {"name": "Tuesday peers", "members": ["alice", "pete"]},
        )
        assert status == 201
        group = body["group"]["id"]
        status, body = await alice(
            "POST", "/api/shares", {"kind": "clip", "id": clip["id"], "to": f"group:{group}"}
        )
        assert status == 201
        group_share = body["share"]["id"]
        status, body = await pete("GET", "/api/shares")
        assert [s["id"] for s in body["shares"]] == [group_share]
        status, body = await sam("GET", "/api/shares")
        assert [s["id"] for s in body["shares"]] == [share["id"]]
        status, body = await bob("GET", "/api/shares")
        assert body["shares"] == []

        # The family withdraws supervision: gone from every list, and refused, at once.
        version = server.app[CONSENT_WORDING]["version"]
        server.app[CONSENTS].record(case_id, ["analysis", "shared_review"], version, "family")
        for viewer in (sam, pete, alice):
            status, body = await viewer("GET", "/api/shares")
            assert body["shares"] == []
        status, _ = await sam("GET", f"/api/shares/{share['id']}")
        assert status == 403
        server.app[CONSENTS].record(case_id, PURPOSES, version, "family")

        # A new supervisor: the old one sees nothing more; the history is kept.
        status, _ = await ada(
            "POST", "/api/supervision/links", {"trainee": "alice", "supervisor": "sue"}
        )
        assert status == 201
        status, body = await sam("GET", "/api/shares")
        assert body["shares"] == []
        status, body = await sue("GET", "/api/shares")
        assert [s["id"] for s in body["shares"]] == [share["id"]]
        status, body = await ada("GET", "/api/supervision/links")
        history = [(link["supervisor"], link["ended_at"] is None) for link in body["links"]]
        assert history == [("Sam", False), ("Sue", True)]

        # The trainee withdraws the share.
        status, _ = await sue("DELETE", f"/api/shares/{share['id']}")
        assert status == 403
        status, _ = await alice("DELETE", f"/api/shares/{share['id']}")
        assert status == 200
        status, body = await sue("GET", "/api/shares")
        assert body["shares"] == []

    actions = {e["action"] for e in server.app[STORE].audit_trail()}
    assert {
        "supervision-linked",
        "shared",
        "share-refused",
        "share-viewed",
        "share-withdrawn",
    } <= actions
    assert {"access-denied", "comment-added", "peer-group-made"} <= actions

    # The family's export holds what was shared of them and what was said about it.
    sink = io.BytesIO()
    export_case(server.app[RECORDS], server.config.data_dir, case_id, sink)
    with zipfile.ZipFile(sink) as archive:
        exported = json.loads(archive.read("supervision.json"))
    assert [c["text"] for s in exported for c in s["comments"]] == ["Lovely long wait"]
    # Erasing the family's case takes its shares and their comments with it.
    await erase_case(server.app, case_id, "test", "test")
    left = server.store.db.execute(
        "SELECT (SELECT COUNT(*) FROM shares WHERE case_id = ?),"
        " (SELECT COUNT(*) FROM share_comments)",
        (case_id,),
    ).fetchone()
    assert tuple(left) == (0, 0)


async def make_clips_for(
    server: RunningServer, owner: str, purposes: list[str], frames: tuple[int, int]
) -> tuple[None, None, str, list[dict[str, Any]]]:
    """A second case of an existing practitioner, with one clip, consented to `purposes`."""
    from tests.support.recordings import seed_recording

    user = server.store.user_by_name(owner)
    assert user is not None
    recording = seed_recording(server, user)
    server.app[CONSENTS].record(recording.case_id, purposes, "test", "family")
    async with logged_in(server, owner) as call:
        status, body = await call(
            "POST",
            f"/api/recordings/{recording.id}/clips",
            {"first": frames[0], "last": frames[1], "title": "Not for supervision"},
        )
        assert status == 201, body
    return None, None, recording.case_id, [body["clip"]]


async def test_a_recorded_review_is_shared_with_both_cameras(server: RunningServer) -> None:
    async with review(server, [(30, 90)], practitioner_camera=True) as r:
        started = await r.start_recording()
        await r.command(action="play")
        await asyncio.sleep(2.0)
        await r.stop_recording()
    server.add_user("sam", role="supervisor")
    server.add_user("ada", role="admin")
    async with (
        logged_in(server, "alice") as alice,
        logged_in(server, "sam") as sam,
        logged_in(server, "ada") as ada,
    ):
        await ada("POST", "/api/supervision/links", {"trainee": "alice", "supervisor": "sam"})
        status, body = await alice(
            "POST", "/api/shares", {"kind": "recording", "id": started["recording_id"]}
        )
        assert status == 201, body
        status, opened = await sam("GET", f"/api/shares/{body['share']['id']}")
        assert status == 200 and opened["title"].startswith("Recorded shared review")
        assert len(opened["media"]) == 2  # the family's camera and the practitioner's
        for url in opened["media"]:
            status, data = await sam("GET", url)
            assert status == 200 and frames_in(data) >= 30
