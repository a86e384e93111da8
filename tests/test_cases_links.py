"""The short family link (/j/<code>) and its QR code, got again from the case page."""

from __future__ import annotations

import aiohttp

from tests.conftest import RunningServer, login
from tests.review_helpers import make_clips
from tests.test_revocation import hello
from vigremote.family_links import ALPHABET, CODE_LENGTH
from vigremote.throttle import CODE_GUESSES


async def follow(server: RunningServer, path: str) -> tuple[int, str]:
    """The status and Location of a short link, without following it."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}{path}", allow_redirects=False) as response,
    ):
        return response.status, response.headers.get("Location", "")


async def test_a_short_code_redirects_to_the_current_family_link(server: RunningServer) -> None:
    owner = server.add_user("alice")
    created = server.new_session(owner)
    code = created["code"]
    assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    assert created["short_link"] == f"{server.url}/j/{code}"
    assert await follow(server, f"/j/{code}") == (302, created["family_link"])
    # Typed from a screen in lower case, it still works.
    assert await follow(server, f"/j/{code.lower()}") == (302, created["family_link"])


async def test_reissuing_replaces_the_short_code_and_the_old_one_is_refused(
    server: RunningServer,
) -> None:
    owner = server.add_user("alice")
    created = server.new_session(owner)
    session_id = created["session"]["id"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server, "alice")
        async with http.post(
            f"{server.url}/api/sessions/{session_id}/family-link", headers={"X-CSRF-Token": csrf}
        ) as response:
            assert response.status == 200
            fresh = await response.json()
        async with http.get(f"{server.url}/api/sessions/{session_id}/family-link.svg") as response:
            assert response.status == 200
            assert response.content_type == "image/svg+xml"
            assert b"<svg" in await response.read()
    assert fresh["code"] != created["code"]
    assert await follow(server, f"/j/{fresh['code']}") == (302, fresh["family_link"])
    # The old code no longer leads to any link: the family page says what to do instead.
    assert await follow(server, f"/j/{created['code']}") == (302, "/f/")
    assert await hello(server, fresh["family_link"].rsplit("/", 1)[1]) == (None, "")
    code, reason = await hello(server, created["token"])
    assert code == 1008 and "replaced" in reason


async def test_an_unknown_code_is_not_a_bare_404(server: RunningServer) -> None:
    assert await follow(server, "/j/ZZZZZZZZ") == (302, "/f/")
    assert await follow(server, "/j/not-a-code-at-all") == (302, "/f/")


async def test_only_the_cases_practitioner_gets_the_qr_code(server: RunningServer) -> None:
    owner = server.add_user("alice")
    server.add_user("bob")
    session_id = server.new_session(owner)["session"]["id"]
    qr = f"{server.url}/api/sessions/{session_id}/family-link.svg"
    async with aiohttp.ClientSession() as http, http.get(qr) as response:
        assert response.status == 401
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, server, "bob")
        async with http.get(qr) as response:
            assert response.status == 403


async def test_a_new_review_comes_with_its_short_link(server: RunningServer) -> None:
    """The review's family link is read aloud or typed as often as a filming one."""
    http, csrf, case_id, items = await make_clips(server, ["analysis", "shared_review"], [(0, 30)])
    try:
        async with http.post(
            f"{server.url}/api/cases/{case_id}/reviews",
            json={"items": [{"kind": i["kind"], "id": i["id"]} for i in items]},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
            created = await response.json()
    finally:
        await http.close()
    code = created["code"]
    assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    assert created["short_link"] == f"{server.url}/j/{code}"
    assert await follow(server, f"/j/{code}") == (302, created["family_link"])


async def test_guessing_short_codes_is_slowed_down_and_a_family_told_to_wait(
    server: RunningServer,
) -> None:
    owner = server.add_user("alice")
    created = server.new_session(owner)
    for n in range(CODE_GUESSES.free - 1):
        assert await follow(server, f"/j/WRONG{n:03d}") == (302, "/f/")
    assert await follow(server, f"/j/{created['code']}") == (302, created["family_link"])
    # The tenth miss: the back-off starts.
    assert await follow(server, "/j/WRONGLAST") == (302, "/f/")
    # Now even the right code is not looked up from this address until the back-off passes.
    status, location = await follow(server, f"/j/{created['code']}")
    assert status == 302 and location.startswith("/f/?wait=")
    assert int(location.split("=", 1)[1]) >= 1
