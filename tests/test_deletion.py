"""Deleting a recording removes it and everything made from it, from disk and from reviews."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import RunningServer, login
from tests.recording_helpers import call
from tests.review_helpers import make_clips, review
from tests.support.publisher import SimulatedFamily
from vigremote.paths import case_dir
from vigremote.state import CLIPS, RECORDINGS, REVIEWS
from vigremote.storage import NotFound

LIVE_BACKENDS = True  # conftest: each runs with the in-process live state and with Redis


async def test_deleting_a_recording_removes_its_files_clips_stills_and_review_items(
    server: RunningServer,
) -> None:
    async with review(server, [(0, 59), (60, 119)], still_frames=(10,)) as r:
        rec = r.clips[0]["recording_id"]
        api, headers = f"{server.url}/api", {"X-CSRF-Token": r.csrf}
        for path in ("", "/thumbnails", "/audio-activity"):  # caches beside the recording
            async with r.http.get(f"{api}/recordings/{rec}{path}") as response:
                assert response.status == 200
        folder = case_dir(server.config.data_dir, r.case_id)
        made = sorted(p.name for p in folder.rglob("*") if p.is_file())
        assert any(n.startswith("playback") for n in made) and any(n.endswith(".png") for n in made)

        async with r.http.delete(f"{api}/recordings/{rec}", headers=headers) as response:
            assert response.status == 200, await response.text()
            assert await response.json() == {"deleted": rec, "clips": 2, "stills": 1}

        # Bytes gone: nothing of the recording or of what was cut from it stays on disk.
        assert [p for p in folder.rglob("*") if p.is_file()] == []
        with pytest.raises(NotFound):
            server.app[RECORDINGS].get(rec)
        assert server.app[CLIPS].clips_of(r.case_id) == []
        assert server.app[CLIPS].stills_of(r.case_id) == []
        assert server.app[REVIEWS].playlist(r.session["session"]["id"]) == []
        for who in (r.practitioner, r.family):  # the running review dropped them, saying why
            state = await who.wait_for("review-state", state="empty")
            assert state["items"] == [] and "deleted" in state["notice"]
        (entry,) = [a for a in server.store.audit_trail() if a["action"] == "recording-deleted"]
        assert entry["object"] == f"recording:{rec}" and entry["detail"]["clips"] == 2
        async with r.http.get(f"{api}/recordings/{rec}") as response:
            assert response.status == 404


async def test_a_review_whose_clip_was_deleted_opens_without_it(server: RunningServer) -> None:
    http, csrf, case_id, clips = await make_clips(
        server, ["analysis", "shared_review"], [(0, 29), (30, 59)]
    )
    try:
        headers = {"X-CSRF-Token": csrf}
        items = [{"kind": "clip", "id": c["id"]} for c in clips]
        async with http.post(
            f"{server.url}/api/cases/{case_id}/reviews", json={"items": items}, headers=headers
        ) as response:
            created = await response.json()
        async with http.delete(f"{server.url}/api/clips/{clips[0]['id']}", headers=headers) as d:
            assert d.status == 200
        family = SimulatedFamily(server.ws_url, created["family_link"].rsplit("/", 1)[1])
        await family.join(with_media=False)
        try:
            state = await family.wait_for("review-state")
            assert [i["id"] for i in state["items"]] == [clips[1]["id"]]
            assert not family._ws.closed  # noqa: SLF001 - joining did not fail
        finally:
            await family.close()
    finally:
        await http.close()


async def test_a_recording_still_being_made_cannot_be_deleted(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            csrf = await login(http, server, "alice")
            url = f"{server.url}/api/recordings/{started['recording_id']}"
            async with http.delete(url, headers={"X-CSRF-Token": csrf}) as response:
                assert response.status == 409
        assert server.app[RECORDINGS].get(started["recording_id"]).status == "recording"
        assert all(p.exists() for p in c.files(started["recording_id"]))
