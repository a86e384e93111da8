"""Malformed input found by the walk-through: a clear 400 or error message, and nothing changes."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import RunningServer, login
from tests.review_helpers import review
from tests.support.signalling_client import Filming, closed_with, replies_to, roster_until

DEEP = "[" * 30000 + "]" * 30000
NOT_UNICODE = "the JSON holds text that is not valid Unicode"
LONE_SURROGATE_LABEL = '{"label": "\\ud800"}'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (DEEP, "the JSON is nested too deeply"),
        ('{"type": "bookmark", "note": "\\ud800"}', NOT_UNICODE),
        ('{"type": "\\udfff"}', NOT_UNICODE),
    ],
    ids=["nested-30000", "lone-surrogate-value", "lone-surrogate-type"],
)
async def test_unusable_json_on_the_socket_closes_it_cleanly(
    filming: Filming,  # noqa: F811
    text: str,
    reason: str,
) -> None:
    async with filming.practitioner() as (practitioner, _):
        async with filming.family() as (family, _):
            await roster_until(practitioner, lambda p: len(p) == 2)
            await family.send_str(text)
            assert await closed_with(family) == (1002, reason)
        await roster_until(practitioner, lambda p: len(p) == 1)
    marks = filming.server.store.db.execute("SELECT COUNT(*) FROM recording_marks").fetchone()
    assert marks[0] == 0


async def test_bad_review_values_are_user_errors_and_the_socket_stays(
    server: RunningServer,
) -> None:
    async with review(server, [(0, 29)]) as r:
        before = await r.command(action="speed", speed=0.5)
        for fields in (
            {"action": "speed", "speed": []},
            {"action": "speed", "speed": "fast"},
            {"action": "speed", "speed": True},
            {"action": "loop", "on": []},
            {"action": "seek", "frame": [1]},
        ):
            seen = len(r.practitioner.messages)
            await r.practitioner.send({"type": "review", **fields})
            reply = await r.practitioner.wait_for_any(("error",), seen)
            assert reply["code"] == "bad-review", fields
        seen = len(r.practitioner.messages)
        await r.practitioner.send({"type": "ping"})
        await r.practitioner.wait_for_any(("pong",), seen)
        state = await r.command(action="loop", on=False)  # the state is as it was
        assert state["speed"] == before["speed"] == 0.5


async def test_unusable_json_over_rest_is_400_and_creates_nothing(server: RunningServer) -> None:
    owner = server.add_user("alice")
    json_header = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{server.url}/api/login", data=DEEP, headers=json_header) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "bad-json"
        csrf = await login(http, server, "alice")
        headers = {**json_header, "X-CSRF-Token": csrf}
        for body in (DEEP, LONE_SURROGATE_LABEL):
            async with http.post(f"{server.url}/api/cases", data=body, headers=headers) as resp:
                assert resp.status == 400, await resp.text()
                assert (await resp.json())["error"]["code"] == "bad-json"
        assert server.store.cases_of(owner.id) == []
        case = server.store.add_case(owner.id, "Family A")
        for item in ({"kind": "clip", "id": []}, {"kind": [], "id": "x"}, ["clip", "x"]):
            async with http.post(
                f"{server.url}/api/cases/{case.id}/reviews",
                json={"items": [item]},
                headers={"X-CSRF-Token": csrf},
            ) as resp:
                assert resp.status == 400, await resp.text()
                assert (await resp.json())["error"]["code"] == "not-in-case"
        assert server.store.sessions_of(case.id) == []


@pytest.mark.parametrize("off", ["audio", ["audio", "audio", "video"], [["audio"]], ["speaker"]])
async def test_a_bad_muted_message_is_a_user_error_and_changes_nothing(
    filming: Filming,  # noqa: F811
    off: object,
) -> None:
    async with filming.family() as (family, _):
        replies = await replies_to(family, {"type": "muted", "off": off})
        assert [r["code"] for r in replies] == ["bad-muted"]
        assert (await filming.member("family")).muted == ()
