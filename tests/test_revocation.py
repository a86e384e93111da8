"""Links and tokens that must stop working: a re-issued family link, a logged-out practitioner."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import RunningServer, login
from tests.support.publisher import SimulatedFamily

LIVE_BACKENDS = True  # conftest: each runs with the in-process live state and with Redis


async def hello(server: RunningServer, token: str) -> tuple[int | None, str]:
    """Open a socket with this token: the close code and reason, or (None, "") if welcomed."""
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "version": 1, "token": token})
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.TEXT and msg.json()["type"] == "welcome":
            return None, ""
        return ws.close_code, str(msg.extra or "")


async def closed_with(family: SimulatedFamily, timeout: float = 5.0) -> int | None:
    for _ in range(int(timeout / 0.05)):
        if family._ws.closed:  # noqa: SLF001 - the test's own client
            return int(family._ws.close_code)
        await asyncio.sleep(0.05)
    return None


async def test_a_reissued_family_link_revokes_the_old_one_at_once(server: RunningServer) -> None:
    owner = server.add_user("alice")
    created = server.new_session(owner)
    session_id, old_token = created["session"]["id"], created["token"]
    family = SimulatedFamily(server.ws_url, old_token)
    await family.join(with_media=False)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            csrf = await login(http, server, "alice")
            async with http.post(
                f"{server.url}/api/sessions/{session_id}/family-link",
                headers={"X-CSRF-Token": csrf},
            ) as response:
                new_token = (await response.json())["family_link"].rsplit("/", 1)[1]
        # The phone holding the old link is hung up on, and cannot come back with it.
        assert await closed_with(family) == 1008
        code, reason = await hello(server, old_token)
        assert code == 1008 and "replaced" in reason
        assert await hello(server, new_token) == (None, "")
        bearer = {"Authorization": f"Bearer {old_token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/api/family/consent", headers=bearer) as response,
        ):
            assert response.status == 401
    finally:
        await family.close()


async def test_a_practitioners_signalling_token_dies_with_logout(server: RunningServer) -> None:
    owner = server.add_user("alice")
    session_id = server.new_session(owner)["session"]["id"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server, "alice")
        async with http.post(
            f"{server.url}/api/sessions/{session_id}/join-token", headers={"X-CSRF-Token": csrf}
        ) as response:
            token = (await response.json())["token"]
        practitioner = SimulatedFamily(server.ws_url, token)
        await practitioner.join(with_media=False)
        try:
            async with http.post(
                f"{server.url}/api/logout", headers={"X-CSRF-Token": csrf}
            ) as response:
                assert response.status == 200
            assert await closed_with(practitioner) == 1008
        finally:
            await practitioner.close()
    code, reason = await hello(server, token)
    assert code == 1008 and "log in" in reason


async def test_an_observers_link_learns_nothing_of_the_consent_and_cannot_change_it(
    server: RunningServer,
) -> None:
    from vigremote.state import CONSENT_WORDING, SIGNER

    owner = server.add_user("alice")
    session_id = server.new_session(owner)["session"]["id"]
    token = server.app[SIGNER].issue(session_id, "observer", "obs-1", "Observer", 600)
    bearer = {"Authorization": f"Bearer {token}"}
    url = f"{server.url}/api/family/consent"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=bearer) as response:
            assert await response.json() == {"session": {"kind": "filming", "status": "open"}}
        body = {"version": server.app[CONSENT_WORDING]["version"], "purposes": []}
        async with http.post(url, json=body, headers=bearer) as response:
            assert response.status == 403
