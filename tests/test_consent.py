"""Consent follows every copy: reviews, recordings, clips and stills, live and over REST."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import numpy as np

from tests.conftest import RunningServer, login
from tests.recording_helpers import call
from tests.review_helpers import Review, last_picture, make_clips, review
from tests.support.publisher import SimulatedFamily
from vigremote.state import CONSENT_WORDING, CONSENTS, RECORDINGS, SIGNER

LIVE_BACKENDS = True  # conftest: each runs with the in-process live state and with Redis


def version(server: RunningServer) -> str:
    return str(server.app[CONSENT_WORDING]["version"])


async def family_consent(r: Review, purposes: list[str]) -> None:
    """The family answers the consent question on their phone, in the review call."""
    await r.practitioner.wait_for("consent")  # the one sent at join comes first
    seen = len([m for m in r.practitioner.messages if m["type"] == "consent"])
    await r.family.send({"type": "consent", "version": version(r.server), "purposes": purposes})
    await r.practitioner.wait_for("consent", after=seen)


def last_picture_brightness(frames: list[tuple[float, Any]]) -> float:
    picture = last_picture(frames)
    assert picture is not None
    return float(np.mean(picture.to_ndarray(format="gray")))


async def status_of(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> int:
    async with http.request(method, url, **kw) as response:
        await response.read()
        return response.status


# 1. shared review withdrawn during a review ----------------------------------------------------
async def test_withdrawing_shared_review_stops_the_clip_and_empties_the_review(
    server: RunningServer,
) -> None:
    async with review(server, [(0, 89), (90, 149)], still_frames=(30,)) as r:
        await family_consent(r, ["analysis", "shared_review", "supervision"])
        assert (await r.command(action="play"))["state"] == "playing"
        await asyncio.sleep(0.6)
        await family_consent(r, ["analysis", "supervision"])
        for who in (r.practitioner, r.family):  # a plain message on both sides
            state = await who.wait_for("review-state", state="empty")
            assert state["items"] == [] and "taken back" in state["notice"]
        refused = await r.command(action="select", item=0)
        assert refused["type"] == "error"
        # The clip left every screen: what the family's phone shows now is a black picture.
        await asyncio.sleep(1.0)
        assert last_picture_brightness(r.family.clip_frames) < 30
        url = f"{server.url}/api/cases/{r.case_id}/review-items"
        async with r.http.get(url) as response:
            assert not any(i["eligible"] for i in (await response.json())["items"])


async def test_a_review_opened_after_a_withdrawal_shows_nothing_withdrawn(
    server: RunningServer,
) -> None:
    async with review(server, [(0, 59)], still_frames=(10,)) as r:
        await family_consent(r, ["analysis"])  # shared review withdrawn
        state = await r.practitioner.wait_for("review-state", state="empty")
        assert state["items"] == []


# 2. analysis withdrawn: nothing of the recording opens ------------------------------------------
async def test_withdrawn_analysis_closes_every_route_and_media_endpoint(
    server: RunningServer,
) -> None:
    http, csrf, case_id, items = await make_clips(
        server, ["analysis", "shared_review"], [(0, 59)], still_frames=(10,)
    )
    try:
        clip, still = items
        rec = clip["recording_id"]
        api, headers = f"{server.url}/api", {"X-CSRF-Token": csrf}
        reads = [
            f"{api}/recordings/{rec}",
            f"{api}/recordings/{rec}/media",
            f"{api}/recordings/{rec}/thumbnails",
            f"{api}/recordings/{rec}/thumbnails.jpg",
            f"{api}/recordings/{rec}/audio-activity",
            f"{api}/clips/{clip['id']}",
            f"{api}/clips/{clip['id']}/media",
            f"{api}/clips/{clip['id']}/poster.png",
            f"{api}/stills/{still['id']}/image.png",
        ]
        for url in reads:  # all open while the family agrees
            assert await status_of(http, "GET", url) == 200, url
        # The family phones to withdraw analysis; the practitioner writes it down.
        withdrawal = {"purposes": ["shared_review"], "how": "phone", "note": "called at 10:05"}
        url = f"{api}/cases/{case_id}/consent"
        assert await status_of(http, "POST", url, json=withdrawal, headers=headers) == 201
        for url in reads:
            async with http.get(url) as response:
                assert response.status == 403, url
                assert (await response.json())["error"]["code"] == "no-consent"
        writes = [
            (f"{api}/recordings/{rec}/clips", {"first": 0, "last": 10, "title": "x"}),
            (f"{api}/recordings/{rec}/stills", {"frame": 3}),
        ]
        for url, body in writes:
            assert await status_of(http, "POST", url, json=body, headers=headers) == 403
        async with http.patch(
            f"{api}/clips/{clip['id']}", json={"first": 0, "last": 5}, headers=headers
        ) as response:
            assert response.status == 403
        assert len(server.app[RECORDINGS].of_case(case_id)) == 1  # nothing was cut
        # The case page shows the current consent, and what is no longer available.
        async with http.get(f"{api}/cases/{case_id}") as response:
            assert (await response.json())["consent"]["purposes"] == ["shared_review"]
        async with http.get(f"{api}/cases/{case_id}/recordings") as response:
            listed = (await response.json())["recordings"][0]
            assert listed["allowed"]["analyse"] is False and listed["allowed"]["review"] is False
        async with http.get(f"{api}/cases/{case_id}/clips") as response:
            listed = (await response.json())["clips"][0]
            assert listed["available"] is False and listed["poster_url"] is None
        async with http.get(f"{api}/cases/{case_id}/review-items") as response:
            assert not any(i["eligible"] for i in (await response.json())["items"])
        denied = [a for a in server.store.audit_trail() if a["action"] == "access-denied"]
        assert denied and all(a["detail"]["reason"] == "consent" for a in denied)
        # Deleting is still allowed (and shows nothing).
        url = f"{api}/stills/{still['id']}"
        assert await status_of(http, "DELETE", url, headers=headers) == 200
    finally:
        await http.close()


# 3. consent in a review session: one record per family, pre-filled, checked per recording ------
async def test_consent_in_a_review_is_prefilled_and_gates_the_review_recording(
    server: RunningServer,
) -> None:
    async with review(server, [(0, 59)]) as r:
        asked = await r.family.wait_for("consent")
        # What the family agreed to when filmed is already ticked; this call still asks.
        assert asked["consent"]["purposes"] == ["analysis", "shared_review", "supervision"]
        assert asked["confirmed"] is False and asked["records"] == "supervision"
        assert "both cameras" in asked["wording"]["intro"]
        assert "supervisor" in asked["wording"]["will_record"]
        before = len(r.practitioner.messages)
        await r.practitioner.send({"type": "record", "action": "start"})
        refused = await r.practitioner.wait_for_any(("recording", "error"), before)
        assert refused["type"] == "error" and refused["code"] == "no-consent"
        await family_consent(r, ["shared_review", "supervision"])
        before = len(r.practitioner.messages)
        await r.practitioner.send({"type": "record", "action": "start"})
        started = await r.practitioner.wait_for_any(("recording", "error"), before)
        assert started["type"] == "recording" and started["state"] == "recording"
        await asyncio.sleep(1.5)
        await r.practitioner.send({"type": "record", "action": "stop"})
        await r.practitioner.wait_for("recording", state="stopped")
        rec = started["recording_id"]
        api, headers = f"{server.url}/api", {"X-CSRF-Token": r.csrf}
        # Kept for supervision: it replays; without analysis it does not open for cutting.
        assert await status_of(r.http, "GET", f"{api}/recordings/{rec}/timeline") == 200
        assert await status_of(r.http, "GET", f"{api}/recordings/{rec}") == 403
        body = {"first": 0, "last": 5, "title": "me"}
        url = f"{api}/recordings/{rec}/clips"
        assert await status_of(r.http, "POST", url, json=body, headers=headers) == 403
        async with r.http.get(f"{api}/cases/{r.case_id}/recordings") as response:
            listed = {x["id"]: x for x in (await response.json())["recordings"]}
        assert listed[rec]["kind"] == "review" and listed[rec]["allowed"]["analyse"] is False
        assert listed[rec]["allowed"]["replay"] is True
        # One consent for the family: the filming recording's use follows the latest word too.
        filming = r.clips[0]["recording_id"]
        assert listed[filming]["allowed"]["analyse"] is False


# 4. withdrawal after the call, by the family's link or by the practitioner ---------------------
async def test_family_withdraws_after_the_call_and_practitioner_records_a_letter(
    server: RunningServer,
) -> None:
    async with call(server) as c:
        await c.consent(["analysis", "shared_review"])
        await c.practitioner.send({"type": "end"})
        await c.family.wait_for("ended")
        token = c.session["token"]
    case_id = c.session["case_id"]
    api = f"{server.url}/api"
    async with aiohttp.ClientSession() as http:
        bearer = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{api}/family/consent", headers=bearer) as response:
            page = await response.json()
        assert page["session"]["status"] == "ended"
        assert page["consent"]["purposes"] == ["analysis", "shared_review"]
        assert page["wording"]["after_call"]["intro"]
        # Only a withdrawal: adding a purpose here is refused and changes nothing.
        more = {"version": version(server), "purposes": ["analysis", "supervision"]}
        async with http.post(f"{api}/family/consent", json=more, headers=bearer) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "withdrawal-only"
        less = {"version": version(server), "purposes": ["analysis"]}
        async with http.post(f"{api}/family/consent", json=less, headers=bearer) as response:
            assert response.status == 200
        assert server.app[CONSENTS].current(case_id).purposes == ["analysis"]  # type: ignore[union-attr]
        bad = {"Authorization": "Bearer " + token[:-4] + "AAAA"}
        assert await status_of(http, "GET", f"{api}/family/consent", headers=bad) == 401
        # An expired link still lets the family withdraw (never agree to more).
        session_id = c.session["session"]["id"]
        identity = server.app[SIGNER].verify(token)
        expired = server.app[SIGNER].issue(
            session_id, "family", "family", "Family", -3600, token_id=identity.token_id
        )
        old = {"Authorization": f"Bearer {expired}"}
        nothing = {"version": version(server), "purposes": []}
        async with http.post(f"{api}/family/consent", json=nothing, headers=old) as response:
            assert response.status == 200
    assert server.app[CONSENTS].current(case_id).purposes == []  # type: ignore[union-attr]
    trail = [a for a in server.store.audit_trail() if a["action"] == "consent-withdrawn"]
    assert [a["detail"]["how"] for a in trail] == ["family-link", "family-link"]


async def test_practitioner_records_a_withdrawal_and_a_running_recording_stops(
    server: RunningServer,
) -> None:
    async with call(server) as c:
        await c.consent(["analysis", "shared_review"])
        started = await c.record(c.practitioner, "start")
        assert started["state"] == "recording"
        await asyncio.sleep(1.0)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            csrf = await login(http, server, "alice")
            url = f"{server.url}/api/cases/{c.session['case_id']}/consent"
            headers = {"X-CSRF-Token": csrf}
            adding = {"purposes": ["analysis", "training"], "how": "phone"}
            async with http.post(url, json=adding, headers=headers) as response:
                assert response.status == 400  # a practitioner never agrees for the family
            wrong = {"purposes": [], "how": "carrier pigeon"}
            assert await status_of(http, "POST", url, json=wrong, headers=headers) == 400
            letter = {"purposes": ["shared_review"], "how": "letter", "note": "dated 20 Nov"}
            assert await status_of(http, "POST", url, json=letter, headers=headers) == 201
            stopped = await c.practitioner.wait_for("recording", state="stopped")
            assert "withdrew" in (stopped["message"] or "")
            async with http.get(url) as response:
                history = (await response.json())["history"]
        assert [h["how"] for h in history] == ["in-call", "letter"]
        assert history[-1]["note"] == "dated 20 Nov"
        assert history[-1]["given_by"] == server.store.user_by_name("alice").id  # type: ignore[union-attr]
        entry = [a for a in server.store.audit_trail() if a["action"] == "consent-withdrawn"][-1]
        assert entry["detail"] == {"how": "letter", "purposes": ["shared_review"]}


# a family's consent message in a new filming session of the same case -------------------------
async def test_a_new_session_asks_again_with_the_earlier_answer_ticked(
    server: RunningServer,
) -> None:
    async with call(server) as c:
        await c.consent(["analysis", "training"])
        case = server.store.case(c.session["case_id"])
    from vigremote.cases import open_session

    again = open_session(server.store, server.config, server.app[SIGNER], case)
    family = SimulatedFamily(server.ws_url, again["family_link"].rsplit("/", 1)[1])
    await family.join(with_media=False)
    try:
        asked = await family.wait_for("consent")
        assert asked["consent"]["purposes"] == ["analysis", "training"]
        assert asked["confirmed"] is False
    finally:
        await family.close()
