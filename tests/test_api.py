"""The REST API and the pages of a real server: logins, ownership, bad input, headers."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import PASSWORD, RunningServer, login, start_server
from vigremote.config import Config
from vigremote.pages import CSP
from vigremote.state import SIGNER

TIMEOUT = 5.0
CSRF = "X-CSRF-Token"


def case_count(server: RunningServer) -> int:
    return int(server.store._db.execute("SELECT count(*) FROM cases").fetchone()[0])


def session_count(server: RunningServer) -> int:
    return int(server.store._db.execute("SELECT count(*) FROM sessions").fetchone()[0])


async def error_of(response: aiohttp.ClientResponse, status: int, code: str) -> str:
    """Check a JSON error a person can read; returns its message."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return str(message)


class Client:
    """A logged-in browser: its own cookie jar and CSRF token."""

    def __init__(self, server: RunningServer, http: aiohttp.ClientSession, csrf: str) -> None:
        self.server, self.http, self.csrf = server, http, csrf

    def get(self, path: str) -> Any:
        return self.http.get(self.server.url + path)

    def post(self, path: str, body: Any = None, csrf: bool = True) -> Any:
        headers = {CSRF: self.csrf} if csrf else {}
        return self.http.post(self.server.url + path, json=body or {}, headers=headers)

    async def create_case(self, label: str = "Family A") -> str:
        async with self.post("/api/cases", {"label": label}) as response:
            assert response.status == 201, await response.text()
            return str((await response.json())["case"]["id"])

    async def create_session(self, case_id: str) -> dict[str, Any]:
        async with self.post(f"/api/cases/{case_id}/sessions") as response:
            assert response.status == 201, await response.text()
            created: dict[str, Any] = await response.json()
            return created


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def logged_in(server: RunningServer, http: aiohttp.ClientSession, name: str) -> Client:
    if server.store.user_by_name(name) is None:
        server.add_user(name)
    return Client(server, http, await login(http, server, name))


# logging in ------------------------------------------------------------------------------------
@pytest.mark.parametrize("username", ["alice", "nobody"])
async def test_a_wrong_login_is_401_and_sets_no_cookie(
    server: RunningServer, http: aiohttp.ClientSession, username: str
) -> None:
    server.add_user("alice")
    body = {"username": username, "password": "wrong password"}
    async with http.post(f"{server.url}/api/login", json=body) as response:
        message = await error_of(response, 401, "bad-login")
        assert "vig_login" not in response.cookies
    assert message == "wrong username or password"  # the same for unknown users
    async with http.get(f"{server.url}/api/me") as response:
        await error_of(response, 401, "not-logged-in")
    failed = server.store.audit_trail(f"user:{username}")
    assert [e["action"] for e in failed] == ["login-failed"]


async def test_login_logout_round_trip(server: RunningServer, http: aiohttp.ClientSession) -> None:
    alice = await logged_in(server, http, "alice")
    async with alice.get("/api/me") as response:
        me = await response.json()
    assert me["user"]["username"] == "alice" and me["user"]["role"] == "practitioner"
    assert me["csrf"] == alice.csrf
    assert "password" not in json.dumps(me) and "argon2" not in json.dumps(me)
    # Logging out needs the CSRF header too.
    async with alice.post("/api/logout", csrf=False) as response:
        await error_of(response, 403, "csrf")
    async with alice.get("/api/me") as response:
        assert response.status == 200
    async with alice.post("/api/logout") as response:
        assert response.status == 200
    async with alice.get("/api/me") as response:
        await error_of(response, 401, "not-logged-in")


@pytest.mark.parametrize(
    "path, method",
    [
        ("/api/me", "GET"),
        ("/api/cases", "GET"),
        ("/api/cases", "POST"),
        ("/api/cases/x/sessions", "POST"),
        ("/api/sessions/x", "GET"),
        ("/api/sessions/x/join-token", "POST"),
        ("/api/sessions/x/end", "POST"),
        ("/api/logout", "POST"),
    ],
)
async def test_without_a_login_cookie_it_is_401(
    server: RunningServer, http: aiohttp.ClientSession, path: str, method: str
) -> None:
    async with http.request(method, server.url + path, json={"label": "x"}) as response:
        await error_of(response, 401, "not-logged-in")
    assert case_count(server) == 0


async def test_a_forged_login_cookie_is_401(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await logged_in(server, http, "alice")
    async with aiohttp.ClientSession(cookies={"vig_login": "forged"}) as other:
        async with other.get(f"{server.url}/api/me") as response:
            await error_of(response, 401, "not-logged-in")


async def test_a_post_without_the_csrf_header_is_403_and_creates_nothing(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    alice = await logged_in(server, http, "alice")
    case_id = await alice.create_case()
    url = server.url
    for headers in ({}, {CSRF: ""}, {CSRF: "wrong-token"}, {CSRF: alice.csrf + "x"}):
        async with http.post(f"{url}/api/cases", json={"label": "B"}, headers=headers) as response:
            await error_of(response, 403, "csrf")
        async with http.post(f"{url}/api/cases/{case_id}/sessions", headers=headers) as response:
            await error_of(response, 403, "csrf")
    assert (case_count(server), session_count(server)) == (1, 0)
    # GETs need no CSRF header (they change nothing).
    async with http.get(f"{url}/api/cases/{case_id}") as response:
        assert response.status == 200


# ownership -------------------------------------------------------------------------------------
async def test_a_practitioner_cannot_touch_another_practitioners_case(
    server: RunningServer,
) -> None:
    async with aiohttp.ClientSession() as http_a, aiohttp.ClientSession() as http_b:
        alice = await logged_in(server, http_a, "alice")
        bob = await logged_in(server, http_b, "bob")
        case_id = await bob.create_case("Bob's family")
        session_id = (await bob.create_session(case_id))["session"]["id"]
        attempts = [
            ("GET", f"/api/cases/{case_id}"),
            ("POST", f"/api/cases/{case_id}/sessions"),
            ("GET", f"/api/sessions/{session_id}"),
            ("POST", f"/api/sessions/{session_id}/family-link"),
            ("POST", f"/api/sessions/{session_id}/join-token"),
            ("POST", f"/api/sessions/{session_id}/end"),
        ]
        for method, path in attempts:
            headers = {CSRF: alice.csrf}
            async with http_a.request(method, server.url + path, headers=headers) as response:
                message = await error_of(response, 403, "forbidden")
                assert "another practitioner" in message
                assert "token" not in await response.text()
        # Nothing changed for Bob, and Alice's own list does not show his case.
        assert session_count(server) == 1
        assert server.store.session(session_id).status == "open"
        async with alice.get("/api/cases") as response:
            assert (await response.json())["cases"] == []
        async with bob.get(f"/api/cases/{case_id}") as response:
            assert [s["status"] for s in (await response.json())["sessions"]] == ["open"]
        # Every attempt is in the audit trail, against Bob's case and in Alice's name.
        denied = [
            e for e in server.store.audit_trail(f"case:{case_id}") if e["action"] == "access-denied"
        ]
        alice_id = server.store.user_by_name("alice").id  # type: ignore[union-attr]
        assert [e["actor"] for e in denied] == [alice_id] * len(attempts)


async def test_unknown_ids_are_404(server: RunningServer, http: aiohttp.ClientSession) -> None:
    alice = await logged_in(server, http, "alice")
    async with alice.get("/api/cases/does-not-exist") as response:
        await error_of(response, 404, "not-found")
    async with alice.post("/api/cases/does-not-exist/sessions") as response:
        await error_of(response, 404, "not-found")
    async with alice.post("/api/sessions/does-not-exist/end") as response:
        await error_of(response, 404, "not-found")
    assert session_count(server) == 0


async def test_a_supervisor_cannot_create_a_case(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server.add_user("sam", role="supervisor")
    sam = await logged_in(server, http, "sam")
    async with sam.post("/api/cases", {"label": "Family"}) as response:
        await error_of(response, 403, "forbidden")
    assert case_count(server) == 0


# bad bodies ------------------------------------------------------------------------------------
MALFORMED_BODIES = [b"{not json", b"\xff\xfe", b"[1, 2]", b'"label"', b"null", b'{"label": ']


async def test_a_malformed_json_body_is_400_bad_json(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    alice = await logged_in(server, http, "alice")
    headers = {CSRF: alice.csrf, "Content-Type": "application/json"}
    for raw in MALFORMED_BODIES:
        async with http.post(f"{server.url}/api/cases", data=raw, headers=headers) as response:
            await error_of(response, 400, "bad-json")
        async with http.post(f"{server.url}/api/login", data=raw, headers=headers) as response:
            await error_of(response, 400, "bad-json")
    assert case_count(server) == 0


async def test_a_missing_or_wrong_label_is_400(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    alice = await logged_in(server, http, "alice")
    bodies: list[dict[str, Any]] = [{}, {"label": ""}, {"label": " "}, {"label": 5}, {"label": []}]
    for body in bodies + [{"label": None}]:
        async with alice.post("/api/cases", body) as response:
            message = await error_of(response, 400, "bad-field")
        assert "label" in message
    assert case_count(server) == 0


async def test_a_label_too_long_is_400_and_the_longest_allowed_works(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    alice = await logged_in(server, http, "alice")
    async with alice.post("/api/cases", {"label": "x" * 81}) as response:
        assert "at most 80" in await error_of(response, 400, "bad-field")
    assert case_count(server) == 0
    case_id = await alice.create_case("y" * 80)
    assert server.store.case(case_id).label == "y" * 80
    # Surrounding spaces are trimmed before the length check.
    case_id = await alice.create_case("  Family  ")
    assert server.store.case(case_id).label == "Family"


async def test_a_body_too_large_is_413(server: RunningServer, http: aiohttp.ClientSession) -> None:
    alice = await logged_in(server, http, "alice")
    huge = json.dumps({"label": "x" * (65 * 1024)}).encode()
    headers = {CSRF: alice.csrf, "Content-Type": "application/json"}
    async with http.post(f"{server.url}/api/cases", data=huge, headers=headers) as response:
        await error_of(response, 413, "too-large")

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the size shows as it comes
        yield b'{"label": "'
        for _ in range(70):
            await asyncio.sleep(0)
            yield b"x" * 1024
        yield b'"}'

    async with http.post(f"{server.url}/api/cases", data=chunked(), headers=headers) as response:
        await error_of(response, 413, "too-large")
    assert case_count(server) == 0
    async with alice.get("/api/me") as response:  # the server and the login are fine
        assert response.status == 200


async def test_a_body_arriving_in_pieces_is_read_whole(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """A slow phone network delivers a body in several packets: it is still one JSON object."""
    alice = await logged_in(server, http, "alice")

    async def slowly() -> AsyncIterator[bytes]:
        yield b'{"label": "Fam'
        await asyncio.sleep(0.05)
        yield b'ily B"}'

    headers = {CSRF: alice.csrf, "Content-Type": "application/json"}
    async with http.post(f"{server.url}/api/cases", data=slowly(), headers=headers) as response:
        assert response.status == 201, await response.text()
        assert (await response.json())["case"]["label"] == "Family B"


# sessions --------------------------------------------------------------------------------------
async def test_a_new_session_has_a_family_link_bound_to_it(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    alice = await logged_in(server, http, "alice")
    case_id = await alice.create_case()
    created = await alice.create_session(case_id)
    session = created["session"]
    assert session["case_id"] == case_id and session["status"] == "open"
    link = created["family_link"]
    assert link.startswith(f"{server.url}/f/")
    identity = server.app[SIGNER].verify(link.rsplit("/", 1)[1])
    assert (identity.session_id, identity.role, identity.participant_id) == (
        session["id"],
        "family",
        "family",
    )
    async with http.get(link) as response:  # the link opens the family page
        assert response.status == 200 and "text/html" in response.content_type
    async with alice.get(f"/api/cases/{case_id}") as response:
        assert [s["id"] for s in (await response.json())["sessions"]] == [session["id"]]
    async with alice.get(f"/api/sessions/{session['id']}") as response:
        assert (await response.json())["participants"] == []
    # A fresh link is another token for the same session and role.
    async with alice.post(f"/api/sessions/{session['id']}/family-link") as response:
        fresh = (await response.json())["family_link"]
    assert fresh != link
    assert server.app[SIGNER].verify(fresh.rsplit("/", 1)[1]).session_id == session["id"]


async def test_join_token_is_for_the_practitioner_and_409_once_ended(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    alice = await logged_in(server, http, "alice")
    session_id = (await alice.create_session(await alice.create_case()))["session"]["id"]
    async with alice.post(f"/api/sessions/{session_id}/join-token") as response:
        token = (await response.json())["token"]
    identity = server.app[SIGNER].verify(token)
    alice_id = server.store.user_by_name("alice").id  # type: ignore[union-attr]
    assert (identity.session_id, identity.role, identity.participant_id, identity.name) == (
        session_id,
        "practitioner",
        alice_id,
        "Alice",
    )
    async with alice.post(f"/api/sessions/{session_id}/end") as response:
        assert (await response.json())["session"]["status"] == "ended"
    for what in ("join-token", "family-link"):
        async with alice.post(f"/api/sessions/{session_id}/{what}") as response:
            await error_of(response, 409, "session-ended")
    # Ending again changes nothing.
    ended_at = server.store.session(session_id).ended_at
    async with alice.post(f"/api/sessions/{session_id}/end") as response:
        assert response.status == 200
    assert server.store.session(session_id).ended_at == ended_at


async def test_ending_over_the_api_hangs_up_the_family(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    alice = await logged_in(server, http, "alice")
    created = await alice.create_session(await alice.create_case())
    session_id = created["session"]["id"]
    async with http.ws_connect(server.url.replace("http", "ws", 1) + "/ws") as ws:
        token = created["family_link"].rsplit("/", 1)[1]
        await ws.send_json({"type": "hello", "version": 1, "token": token})
        while (await ws.receive_json(timeout=TIMEOUT))["type"] != "welcome":
            pass
        async with alice.get(f"/api/sessions/{session_id}") as response:
            participants = (await response.json())["participants"]
        assert [p["role"] for p in participants] == ["family"]
        async with alice.post(f"/api/sessions/{session_id}/end") as response:
            assert response.status == 200
        seen = []
        while True:
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            seen.append(json.loads(msg.data)["type"])
        assert "ended" in seen
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 4002)


# the OpenAPI document --------------------------------------------------------------------------
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/")
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


async def test_the_openapi_document_lists_every_api_route(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/api/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]

    routed = set()
    for resource in server.app.router.resources():
        path = resource.canonical
        if not path.startswith("/api/") or path == "/api/openapi.json":  # the document itself
            continue
        for route in resource:
            if route.method != "HEAD":  # aiohttp adds HEAD to every GET
                routed.add((route.method.lower(), path))
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert routed, "the router has no API routes?"
    assert documented == routed

    for path, item in document["paths"].items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        in_path = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert declared == in_path, path
        for method in set(item) & HTTP_METHODS:
            operation = item[method]
            assert operation["summary"] and operation["responses"], (method, path)
            schemes = {name for need in operation["security"] for name in need}
            if method == "post" and path != "/api/login":
                # A family's link is a bearer token in a header (no cookie, so no CSRF).
                assert "csrf" in schemes or schemes == {"familyLink"}, (method, path)
    schemes = document["components"]["securitySchemes"]
    assert schemes["cookie"]["name"] == "vig_login"
    assert schemes["csrf"] == {"type": "apiKey", "in": "header", "name": CSRF}
    for ref in _refs(document):
        assert _resolve(document, ref) is not None, ref


# pages, headers and static files ---------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/app", "/f/some.family.token", "/static/style.css", "/static/protocol.js"]
)
async def test_pages_carry_security_headers(
    server: RunningServer, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(server.url + path) as response:
        assert response.status == 200
        headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


async def raw_get(server: RunningServer, target: str) -> tuple[int, bytes]:
    """A GET with the request line exactly as given (clients would normalise `..` away)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    return int(data.split(b" ", 2)[1]), data


TRAVERSALS = [
    "/static/../vigremote/app.py",
    "/static/../../etc/passwd",
    "/static/%2e%2e/vigremote/app.py",
    "/static/%2E%2E/%2E%2E/etc/passwd",
    "/static/..%2fvigremote%2fapp.py",
    "/static/%2e%2e%2fvigremote%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%5cvigremote%5capp.py",
    "/static/%252e%252e/vigremote/app.py",
    "/static/....//vigremote/app.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/style.css/../../vigremote/app.py",
    "/static/%00../vigremote/app.py",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_static_files_never_leave_the_web_folder(server: RunningServer, target: str) -> None:
    status, data = await raw_get(server, "/static/style.css")
    assert status == 200  # the raw client does fetch what is there
    status, data = await raw_get(server, target)
    assert status in (400, 403, 404), data[:300]
    assert b"create_app" not in data and b"root:" not in data


async def test_static_files_do_not_follow_symlinks_out_of_the_web_folder(tmp_path: Path) -> None:
    web = tmp_path / "web"
    shutil.copytree(Config(data_dir=tmp_path).web_dir, web)
    secret = tmp_path / "outside.txt"
    secret.write_text("outside the web folder")
    (web / "link.txt").symlink_to(secret)
    runner, server = await start_server(tmp_path / "data", web_dir=web)
    try:
        status, data = await raw_get(server, "/static/link.txt")
        assert status in (403, 404)
        assert b"outside the web folder" not in data
        assert (await raw_get(server, "/static/style.css"))[0] == 200
    finally:
        await runner.cleanup()


async def test_login_with_the_right_password_works_after_failures(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server.add_user("alice")
    for _ in range(3):
        body = {"username": "alice", "password": "nope nope"}
        async with http.post(f"{server.url}/api/login", json=body) as response:
            assert response.status == 401
    body = {"username": "alice", "password": PASSWORD}
    async with http.post(f"{server.url}/api/login", json=body) as response:
        assert response.status == 200
        assert "vig_login" in response.cookies
        cookie = response.cookies["vig_login"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
