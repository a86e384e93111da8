"""The signalling WebSocket of a real server, driven by real aiortc offers.

Protocol errors close the socket with a code and a reason; user errors are {"type": "error"}
messages after which the socket stays open and nothing has changed (web/protocol.js).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.support.publisher import aiortc_offer
from tests.support.signalling_client import (
    WS,
    Filming,
    closed_with,
    expect,
    hello,
    receive_json,
    replies_to,
    roster_until,
    user_error,
)
from vigremote import signalling
from vigremote.config import load_secret
from vigremote.state import SIGNER

LIVE_BACKENDS = True  # conftest: each runs with the in-process live state and with Redis


def joined_audit(filming: Filming) -> list[dict[str, Any]]:
    trail = filming.server.store.audit_trail(f"session:{filming.session_id}")
    return [entry for entry in trail if entry["action"] == "joined"]


# handshake -------------------------------------------------------------------------------------
async def test_the_handshake_welcomes_with_identity_session_and_ice(filming: Filming) -> None:
    async with filming.family() as (ws, welcome):
        assert welcome["version"] == 1
        assert welcome["you"] == {
            "id": "family",
            "role": "family",
            "name": "Family",
            "media": "none",
        }
        assert welcome["session"] == {"id": filming.session_id, "kind": "filming"}
        assert welcome["iceServers"] == []
        assert await replies_to(ws, {"type": "ping"}) == []
        assert [e["actor"] for e in joined_audit(filming)] == ["family"]


@pytest.mark.parametrize(
    "first",
    [{"type": "ping"}, {"type": "offer", "sdp": "v=0"}, {"type": "end"}, {"type": "welcome"}],
)
async def test_a_message_before_the_handshake_closes_1002(
    filming: Filming, first: dict[str, Any]
) -> None:
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        await ws.send_json(first)
        code, reason = await closed_with(ws)
    assert code == 1002
    assert "hello" in reason and "first message" in reason
    # Nothing happened: no room, nobody joined, and the session still takes a proper hello.
    assert filming.room is None and joined_audit(filming) == []
    async with filming.family() as (ws, _):
        assert await replies_to(ws, {"type": "ping"}) == []


@pytest.mark.parametrize("version", [2, 0, "1", None, 1.5])
async def test_a_wrong_protocol_version_closes_1002(filming: Filming, version: object) -> None:
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        await hello(ws, filming.family_token, version=version)
        code, reason = await closed_with(ws)
    assert code == 1002
    assert "version" in reason and "1" in reason
    assert filming.room is None and joined_audit(filming) == []


async def test_no_handshake_in_time_closes_1002(
    filming: Filming, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signalling, "HANDSHAKE_TIMEOUT_S", 0.2)
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        code, reason = await closed_with(ws)
    assert (code, reason) == (1002, "no handshake received")


MALFORMED = ["{not json", "", "null", "[1, 2]", '"hello"', '{"no": "type"}', '{"type": 5}']


@pytest.mark.parametrize("text", MALFORMED)
async def test_malformed_json_before_the_handshake_closes_1002(filming: Filming, text: str) -> None:
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        await ws.send_str(text)
        code, reason = await closed_with(ws)
    assert code == 1002 and reason
    assert filming.room is None


@pytest.mark.parametrize("text", MALFORMED)
async def test_malformed_json_after_the_handshake_closes_1002_and_leaves(
    filming: Filming, text: str
) -> None:
    async with filming.practitioner() as (practitioner, _):
        async with filming.family() as (family, _):
            await roster_until(practitioner, lambda p: len(p) == 2)
            await family.send_str(text)
            code, reason = await closed_with(family)
            assert code == 1002
            assert reason in ("malformed JSON", "a message must be a JSON object with a 'type'")
            # The family is gone from the room and the practitioner is told so.
            roster = await roster_until(practitioner, lambda p: len(p) == 1)
            assert [p["role"] for p in roster] == ["practitioner"]
            assert await filming.roles() == ["practitioner"]
        assert await replies_to(practitioner, {"type": "ping"}) == []


@pytest.mark.parametrize("joined", [False, True], ids=["before-hello", "after-hello"])
async def test_a_binary_frame_closes_1002(filming: Filming, joined: bool) -> None:
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        if joined:
            await hello(ws, filming.family_token)
            await expect(ws, "welcome")
        await ws.send_bytes(json.dumps({"type": "ping"}).encode())
        code, reason = await closed_with(ws)
    assert code == 1002
    assert "text" in reason


@pytest.mark.parametrize("joined", [False, True], ids=["before-hello", "after-hello"])
async def test_an_oversized_frame_closes_1009(filming: Filming, joined: bool) -> None:
    limit = filming.server.config.max_message_bytes
    assert limit == 64 * 1024
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        if joined:
            await hello(ws, filming.family_token)
            await expect(ws, "welcome")
        padding = "x" * (limit + 1 - len('{"type": "ping", "pad": ""}'))
        await ws.send_str(json.dumps({"type": "ping", "pad": padding}))
        code, _ = await closed_with(ws)
    assert code == 1009
    await asyncio.sleep(0.05)
    assert await filming.roles() == []
    # Just under the limit is fine (a ping with padding gets its pong).
    async with filming.family() as (ws, _):
        padding = "x" * (limit - 100)
        await ws.send_str(json.dumps({"type": "ping", "pad": padding}))
        assert (await expect(ws, "pong")) == {"type": "pong"}


# tokens ----------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def family_claims(session_id: str, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "typ": "join",
        "sid": session_id,
        "role": "family",
        "sub": "family",
        "name": "Family",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def forged(f: Filming) -> object:
    return jwt.encode(family_claims(f.session_id), os.urandom(32), algorithm="HS256")


def expired(f: Filming) -> object:
    return f.server.app[SIGNER].issue(f.session_id, "family", "family", "Family", -60)


def alg_none(f: Filming) -> object:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(family_claims(f.session_id)).encode())}."


def wrong_algorithm(f: Filming) -> object:
    key = load_secret(f.server.config.data_dir)
    return jwt.encode(family_claims(f.session_id), key + key, algorithm="HS512")


def wrong_typ(f: Filming) -> object:
    key = load_secret(f.server.config.data_dir)
    return jwt.encode(family_claims(f.session_id, typ="login"), key, algorithm="HS256")


def unknown_session(f: Filming) -> object:
    return f.server.app[SIGNER].issue("no-such-session", "family", "family", "Family", 600)


BAD_TOKENS: dict[str, Callable[[Filming], object]] = {
    "forged": forged,
    "expired": expired,
    "alg-none": alg_none,
    "wrong-algorithm": wrong_algorithm,
    "wrong-typ": wrong_typ,
    "unknown-session": unknown_session,
    "garbage": lambda f: "garbage.garbage.garbage",
    "empty": lambda f: "",
    "not-a-string": lambda f: {"sid": f.session_id, "role": "practitioner"},
    "missing": lambda f: None,
    "huge": lambda f: "a" * 5000,
}


@pytest.mark.parametrize("name", list(BAD_TOKENS))
async def test_a_bad_token_closes_1008_with_a_readable_reason(filming: Filming, name: str) -> None:
    token = BAD_TOKENS[name](filming)
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        await hello(ws, token)
        code, reason = await closed_with(ws)
    assert code == 1008
    assert reason in ("this link is not valid", "this link has expired", "malformed token")
    if name == "expired":
        assert reason == "this link has expired"
    # Nobody joined and nothing was opened.
    assert filming.room is None and joined_audit(filming) == []


async def test_a_token_for_an_ended_session_closes_4002(filming: Filming) -> None:
    filming.server.store.end_session(filming.session_id)
    for token in (filming.family_token, filming.practitioner_token):
        async with filming.http.ws_connect(filming.server.ws_url) as ws:
            await hello(ws, token)
            assert await closed_with(ws) == (4002, "the session has ended")
    assert filming.room is None and joined_audit(filming) == []


# offers ----------------------------------------------------------------------------------------
def _edit(offer: str, keep: Callable[[str], bool]) -> str:
    return "\r\n".join(line for line in offer.splitlines() if keep(line)) + "\r\n"


BAD_OFFERS: dict[str, Callable[[str], object]] = {
    "stripped-rtpmap": lambda o: _edit(o, lambda line: not line.startswith("a=rtpmap")),
    "no-direction": lambda o: _edit(o, lambda line: line != "a=sendrecv"),
    "no-ice-credentials": lambda o: _edit(o, lambda line: not line.startswith("a=ice-")),
    "no-mids": lambda o: _edit(o, lambda line: not line.startswith("a=mid:")),
    "garbage-text": lambda o: "this is not an offer\r\nat all\r\n",
    "random-bytes": lambda o: os.urandom(2000).decode("latin-1"),
    "random-bytes-after-v0": lambda o: "v=0\r\n" + os.urandom(500).decode("latin-1"),
    "10000-lines": lambda o: "v=0\n" + "a=x\n" * 9999,
    "datachannel-only": lambda o: (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
    ),
    "two-videos": lambda o: o + "m=video 9 UDP/TLS/RTP/SAVPF 97\r\na=mid:2\r\n",
    "empty": lambda o: "",
    "not-a-string": lambda o: {"sdp": o},
    "missing": lambda o: None,
}


@pytest.mark.parametrize("name", list(BAD_OFFERS))
async def test_a_bad_offer_is_a_user_error_and_changes_nothing(filming: Filming, name: str) -> None:
    offer = await aiortc_offer()
    bad = BAD_OFFERS[name](offer)
    if name == "10000-lines":
        frame = json.dumps({"type": "offer", "sdp": bad})
        assert 40_000 < len(frame) < filming.server.config.max_message_bytes
    async with filming.practitioner() as (ws, _):
        assert filming.room is not None
        feeds = [filming.room.feed("family", kind) for kind in ("audio", "video")]
        message: dict[str, Any] = {"type": "offer"}
        if bad is not None:
            message["sdp"] = bad
        user_error(await replies_to(ws, message), "bad-offer", "offer")
        # Nothing changed: no media connection, and nothing left watching the family's feeds.
        assert (await filming.member(filming.owner_id)).peer is None
        assert [len(feed._sinks) for feed in feeds] == [0, 0]
        # The same socket still negotiates a valid offer.
        [answer] = await replies_to(ws, {"type": "offer", "sdp": offer})
        assert answer["type"] == "answer" and answer["sdp"].startswith("v=0\r\n")
        assert answer["codec"] == "VP8"
        assert [len(feed._sinks) for feed in feeds] == [1, 1]


async def test_a_bad_offer_keeps_the_working_connection(filming: Filming) -> None:
    async with filming.family() as (ws, _):
        [answer] = await replies_to(ws, {"type": "offer", "sdp": await aiortc_offer()})
        assert answer["type"] == "answer"
        peer = (await filming.member("family")).peer
        assert peer is not None
        stripped = BAD_OFFERS["stripped-rtpmap"](await aiortc_offer())
        user_error(await replies_to(ws, {"type": "offer", "sdp": stripped}), "bad-offer", "offer")
        assert (await filming.member("family")).peer is peer
        assert peer.pc.signalingState == "stable"


async def test_a_video_only_offer_is_answered(filming: Filming) -> None:
    async with filming.family() as (ws, _):
        [answer] = await replies_to(ws, {"type": "offer", "sdp": await aiortc_offer(("video",))})
        assert answer["type"] == "answer"
        assert answer["sdp"].count("m=") == 1 and "m=video" in answer["sdp"]


async def test_a_family_connects_media_and_the_practitioner_sees_it(filming: Filming) -> None:
    """A complete negotiation over loopback: the roster reports the family's media state."""
    client = RTCPeerConnection()
    try:
        client.addTransceiver("audio", direction="sendrecv")
        client.addTransceiver("video", direction="sendrecv")
        await client.setLocalDescription(await client.createOffer())
        if "a=candidate:" not in client.localDescription.sdp:
            pytest.skip("no network interface to connect over (aioice skips loopback)")
        async with filming.practitioner() as (practitioner, _), filming.family() as (family, _):
            await family.send_json({"type": "offer", "sdp": client.localDescription.sdp})
            answer = await expect(family, "answer")
            await client.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            roster = await roster_until(
                practitioner,
                lambda p: any(m["role"] == "family" and m["media"] == "connected" for m in p),
            )
            assert sorted(m["role"] for m in roster) == ["family", "practitioner"]
            assert (await filming.member("family")).peer.state == "connected"
    finally:
        await client.close()


# candidates ------------------------------------------------------------------------------------
GOOD_CANDIDATE = {
    "candidate": "candidate:1 1 udp 2130706431 192.0.2.9 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


@pytest.mark.parametrize(
    "candidate",
    [
        {"candidate": "garbage"},
        {"candidate": "candidate:1 1 udp notanumber 192.0.2.9 50000 typ host", "sdpMid": "0"},
        {"candidate": "candidate:1 1 udp 1 192.0.2.9 port typ host", "sdpMid": "0"},
        {"candidate": "candidate:" + "1 " * 600, "sdpMid": "0"},
        {"candidate": 42},
        "a string",
        ["a", "list"],
    ],
    ids=["garbage", "bad-priority", "bad-port", "too-long", "not-text", "string", "list"],
)
async def test_a_bad_candidate_is_a_user_error(filming: Filming, candidate: object) -> None:
    offer = _edit(await aiortc_offer(), lambda line: line != "a=end-of-candidates")
    async with filming.family() as (ws, _):
        message = {"type": "candidate", "candidate": candidate}
        user_error(await replies_to(ws, message), "no-connection", "candidate")
        [answer] = await replies_to(ws, {"type": "offer", "sdp": offer})
        assert answer["type"] == "answer"
        peer = (await filming.member("family")).peer
        user_error(await replies_to(ws, message), "bad-candidate", "candidate")
        # Still the same connection, and a well-formed candidate (then the end) is accepted.
        assert (await filming.member("family")).peer is peer
        assert await replies_to(ws, {"type": "candidate", "candidate": GOOD_CANDIDATE}) == []
        assert await replies_to(ws, {"type": "candidate", "candidate": None}) == []


# message types and roles -----------------------------------------------------------------------
async def test_unknown_types_and_a_second_hello_are_user_errors(filming: Filming) -> None:
    async with filming.practitioner() as (practitioner, _), filming.family() as (ws, _):
        await roster_until(practitioner, lambda p: len(p) == 2)
        error = user_error(await replies_to(ws, {"type": "dance"}), "unknown-type", "dance")
        assert "dance" in error["message"]
        long_type = "x" * 5000
        error = user_error(await replies_to(ws, {"type": long_type}), "unknown-type", long_type)
        assert len(error["message"]) < 100
        second = {"type": "hello", "version": 1, "token": filming.practitioner_token}
        user_error(await replies_to(ws, second), "already-joined", "hello")
        # The second hello changed nobody's identity.
        assert sorted((m.id, m.role) for m in await filming.members()) == sorted(
            [("family", "family"), (filming.owner_id, "practitioner")]
        )
        assert await replies_to(practitioner, {"type": "ping"}) == []


async def test_the_family_may_not_control_or_end(filming: Filming) -> None:
    async with filming.practitioner() as (practitioner, _), filming.family() as (family, _):
        await roster_until(practitioner, lambda p: len(p) == 2)
        control = {"type": "control", "action": "switch-camera"}
        user_error(await replies_to(family, control), "not-allowed", "control")
        user_error(await replies_to(family, {"type": "end"}), "not-allowed", "end")
        assert filming.server.store.session(filming.session_id).status == "open"
        assert await filming.roles() == ["family", "practitioner"]
        # The practitioner was sent nothing (no control, no "ended").
        assert await replies_to(practitioner, {"type": "ping"}) == []


async def test_switch_camera_reaches_the_family(filming: Filming) -> None:
    async with filming.practitioner() as (practitioner, _):
        control = {"type": "control", "action": "switch-camera"}
        user_error(await replies_to(practitioner, control), "no-family", "control")
        async with filming.family() as (family, _):
            await roster_until(practitioner, lambda p: len(p) == 2)
            assert await replies_to(practitioner, control) == []
            assert await expect(family, "control") == {
                "type": "control",
                "action": "switch-camera",
            }
            for action in ("reboot", None, 7):
                bad = {"type": "control", "action": action}
                user_error(await replies_to(practitioner, bad), "bad-control", "control")
            assert await replies_to(family, {"type": "ping"}) == []  # no second control


async def test_the_practitioner_ends_the_session_for_everyone(filming: Filming) -> None:
    async with filming.practitioner() as (practitioner, _), filming.family() as (family, _):
        await roster_until(practitioner, lambda p: len(p) == 2)
        await practitioner.send_json({"type": "end"})
        for ws in (practitioner, family):
            assert await expect(ws, "ended") == {"type": "ended"}
            assert await closed_with(ws) == (4002, "the session has ended")
    session = filming.server.store.session(filming.session_id)
    assert session.status == "ended" and session.ended_at is not None
    trail = filming.server.store.audit_trail(f"session:{filming.session_id}")
    assert [e["actor"] for e in trail if e["action"] == "session-ended"] == [filming.owner_id]
    await asyncio.sleep(0.05)
    assert filming.room is None
    # The family's link no longer opens the session.
    async with filming.http.ws_connect(filming.server.ws_url) as ws:
        await hello(ws, filming.family_token)
        assert (await closed_with(ws))[0] == 4002


async def rosters_until_pong(ws: WS) -> list[list[dict[str, Any]]]:
    """Every roster the server sent this socket so far (a ping marks the end)."""
    await ws.send_json({"type": "ping"})
    rosters: list[list[dict[str, Any]]] = []
    while (message := await receive_json(ws))["type"] != "pong":
        if message["type"] == "participants":
            rosters.append(message["participants"])
    return rosters


def families(roster: list[dict[str, Any]]) -> int:
    return [m["role"] for m in roster].count("family")


# membership ------------------------------------------------------------------------------------
async def test_the_roster_lists_participants_with_roles(filming: Filming) -> None:
    async with filming.practitioner() as (practitioner, welcome):
        assert welcome["you"]["id"] == filming.owner_id
        assert (await expect(practitioner, "participants"))["participants"] == [
            {"id": filming.owner_id, "role": "practitioner", "name": "Alice", "media": "none"}
        ]
        async with filming.family() as (family, _):
            roster = await roster_until(practitioner, lambda p: len(p) == 2)
            assert sorted(roster, key=lambda m: m["role"]) == [
                {"id": "family", "role": "family", "name": "Family", "media": "none"},
                {"id": filming.owner_id, "role": "practitioner", "name": "Alice", "media": "none"},
            ]
            family_roster = await expect(family, "participants")
            assert len(family_roster["participants"]) == 2
        # The family left: everyone remaining is told.
        roster = await roster_until(practitioner, lambda p: len(p) == 1)
        assert [m["role"] for m in roster] == ["practitioner"]


async def test_rejoining_replaces_the_earlier_socket(filming: Filming) -> None:
    async with filming.practitioner() as (practitioner, _):
        async with filming.family() as (first, _):
            await roster_until(practitioner, lambda p: len(p) == 2)
            old = await filming.member("family")
            async with filming.family() as (second, _):
                code, reason = await closed_with(first)
                assert code == 4001 and "again" in reason
                await asyncio.sleep(0.05)  # let the old socket's leaving run to its end
                # The family is listed once, and it is the new socket.
                members = await filming.members()
                assert sorted(m.role for m in members) == ["family", "practitioner"]
                assert await filming.member("family") is not old
                roster = (await expect(second, "participants"))["participants"]
                assert [m["role"] for m in roster].count("family") == 1
                assert await replies_to(second, {"type": "ping"}) == []
                # No roster the practitioner was sent lists the family twice, and the last one
                # (after the old socket's leaving) still lists it.
                rosters = await rosters_until_pong(practitioner)
                assert rosters and all(families(r) <= 1 for r in rosters)
                assert families(rosters[-1]) == 1
                assert await filming.roles() == ["family", "practitioner"]
