"""Login CSRF: another web site cannot make a browser log in (or change anything) here."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import PASSWORD, RunningServer, free_port, login, start_server
from tests.support.browser import launch_browser
from vigremote.accounts import COOKIE

FOREIGN = "http://evil.example"
CREDENTIALS = {"username": "alice", "password": PASSWORD}


def logins_of(server: RunningServer, username: str) -> list[dict[str, object]]:
    user = server.store.user_by_name(username)
    assert user is not None
    return [a for a in server.store.audit_trail(f"user:{user.id}") if a["action"] == "login"]


async def post(
    url: str, body: str | bytes, content_type: str, **headers: str
) -> tuple[int, dict[str, object], bool]:
    """Status, JSON body, and whether a login cookie was set."""
    async with aiohttp.ClientSession() as http:
        headers["Content-Type"] = content_type
        async with http.post(url, data=body, headers=headers) as response:
            return response.status, await response.json(), COOKIE in response.cookies


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
async def test_a_login_that_is_not_json_is_refused(
    server: RunningServer, content_type: str
) -> None:
    """The body is valid JSON, as a text/plain form from another site can make it."""
    server.add_user("alice")
    body = json.dumps(CREDENTIALS)
    status, reply, cookie = await post(f"{server.url}/api/login", body, content_type)
    assert status == 415
    assert reply["error"]["code"] == "json-required"  # type: ignore[index]
    assert not cookie and logins_of(server, "alice") == []


async def test_a_login_from_another_origin_is_refused(server: RunningServer) -> None:
    server.add_user("alice")
    body = json.dumps(CREDENTIALS)
    url = f"{server.url}/api/login"
    for origin in (FOREIGN, "null", server.url.replace("localhost", "localhost.evil.example")):
        status, reply, cookie = await post(url, body, "application/json", Origin=origin)
        assert status == 403, origin
        assert reply["error"]["code"] == "cross-origin"  # type: ignore[index]
        assert not cookie
    status, reply, _ = await post(url, body, "application/json", **{"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and reply["error"]["code"] == "cross-site"  # type: ignore[index]
    assert logins_of(server, "alice") == []


async def test_the_own_origin_and_clients_without_one_log_in(server: RunningServer) -> None:
    server.add_user("alice")
    body = json.dumps(CREDENTIALS)
    url = f"{server.url}/api/login"
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert (await post(url, body, "application/json", **own))[0] == 200
    assert (await post(url, body, "application/json; charset=utf-8"))[0] == 200  # the CLI
    assert len(logins_of(server, "alice")) == 2


async def test_every_state_changing_route_checks_the_origin(server: RunningServer) -> None:
    """Even with the right cookie and CSRF token, a request from another origin is refused."""
    server.add_user("alice")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, server, "alice")
        headers = {"X-CSRF-Token": csrf, "Origin": FOREIGN}
        for method, path in (
            ("POST", "/api/cases"),
            ("PUT", "/api/tags"),
            ("PATCH", "/api/clips/nope"),
            ("DELETE", "/api/recordings/nope"),
            ("POST", "/api/logout"),
        ):
            async with http.request(
                method, f"{server.url}{path}", json={"label": "X"}, headers=headers
            ) as response:
                assert response.status == 403, (method, path)
                assert (await response.json())["error"]["code"] == "cross-origin"
        # Reading is not state-changing: a foreign Origin on a GET is the page's own business.
        async with http.get(f"{server.url}/api/me", headers={"Origin": FOREIGN}) as response:
            assert response.status == 200
        # And the same request from the page's own origin works.
        headers["Origin"] = server.url
        async with http.post(
            f"{server.url}/api/cases", json={"label": "X"}, headers=headers
        ) as response:
            assert response.status in (200, 201), await response.text()


@pytest.fixture
async def behind_proxy(tmp_path: Path) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(tmp_path / "data", public_url="https://vig.example.org")
    yield running
    await runner.cleanup()


async def test_behind_a_tls_proxy_the_public_origin_is_the_own_one(
    behind_proxy: RunningServer,
) -> None:
    behind_proxy.add_user("alice")
    body = json.dumps(CREDENTIALS)
    url = f"http://127.0.0.1:{behind_proxy.config.port}/api/login"
    status, _, _ = await post(url, body, "application/json", Origin="https://vig.example.org")
    assert status == 200
    status, _, _ = await post(url, body, "application/json", Origin="https://vig.example.org:444")
    assert status == 403
    status, _, _ = await post(url, body, "application/json", Origin="http://vig.example.org")
    assert status == 403


ATTACK_PAGE = """<!doctype html>
<form id="f" method="POST" action="{target}" enctype="text/plain">
  <input name='{{"username": "mallory", "password": "{password}", "x": "' value='"}}'>
</form>
<script>document.getElementById('f').submit()</script>
"""


async def test_a_foreign_page_cannot_log_a_real_browser_in(server: RunningServer) -> None:
    """Chromium on a page of another site (127.0.0.1 is not the same site as localhost) posts
    the attacker's credentials as a text/plain form: the victim must not end up logged in."""
    server.add_user("mallory")
    target = f"{server.url}/api/login"

    async def attack(request: web.Request) -> web.Response:
        page = ATTACK_PAGE.format(target=target, password=PASSWORD)
        return web.Response(text=page, content_type="text/html")

    evil = web.Application()
    evil.router.add_get("/", attack)
    runner = web.AppRunner(evil)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with launch_browser() as browser:
            context = await browser.new_context()
            page = await context.new_page()
            async with page.expect_navigation(url=target):
                await page.goto(f"http://127.0.0.1:{port}/")
            text = await page.text_content("body") or ""
            cookies = await context.cookies(server.url)
    finally:
        await runner.cleanup()
    assert "json-required" in text or "cross-" in text, text
    assert not [c for c in cookies if c["name"] == COOKIE]
    assert logins_of(server, "mallory") == []
