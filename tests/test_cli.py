"""The `vigremote` command, run as a real subprocess against a real data folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import PASSWORD, free_port, start_server
from vigremote.auth import Passwords
from vigremote.config import ensure_private_dir
from vigremote.keys import load_master_key
from vigremote.storage import Store
from vigremote.vault.keyring import Keyring

COMMAND = [sys.executable, "-m", "vigremote.cli"]
TIMEOUT = 60


def vigremote(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], input=stdin, capture_output=True, text=True, timeout=TIMEOUT
    )


def rows(data: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(data / "vigremote.sqlite3")) as db:
        return list(db.execute(query).fetchall())


def add_user(data: Path, name: str, *extra: str, password: str = "correct horse battery") -> Any:
    return vigremote(
        "user", "add", name, "--data", str(data), "--password-stdin", *extra, stdin=password + "\n"
    )


def in_parallel(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands at once (each one pays Python's start-up time)."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: vigremote(*args), commands))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def bob_and_sue(data: Path) -> Path:
    """A data folder with practitioner bob and supervisor sue (made directly: not under test)."""
    store = Store(ensure_private_dir(data) / "vigremote.sqlite3")
    password_hash = Passwords().hash(PASSWORD)
    store.add_user("bob", "Bob", "practitioner", password_hash)
    store.add_user("sue", "Sue", "supervisor", password_hash)
    store.close()
    return data


def test_user_add_then_a_duplicate_fails_clearly(data: Path) -> None:
    added = add_user(data, "bob", "--role", "practitioner", "--name", "Bob Jones")
    assert added.returncode == 0, added.stderr
    printed = json.loads(added.stdout)
    assert printed["username"] == "bob" and printed["role"] == "practitioner"
    assert "correct horse" not in added.stdout + added.stderr
    [(user_id, name, role, hashed)] = rows(
        data, "SELECT id, display_name, role, password_hash FROM users"
    )
    assert (user_id, name, role) == (printed["id"], "Bob Jones", "practitioner")
    assert hashed.startswith("$argon2id$")
    assert oct((data / "vigremote.sqlite3").stat().st_mode & 0o777) == "0o600"
    assert oct(data.stat().st_mode & 0o777) == "0o700"

    again = add_user(data, "bob", "--role", "supervisor", password="another password")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1] == "error: user 'bob' already exists"
    assert "Traceback" not in again.stderr
    assert rows(data, "SELECT id, role, password_hash FROM users") == [
        (user_id, "practitioner", hashed)
    ]


def test_a_short_password_is_refused_and_no_user_is_made(data: Path) -> None:
    result = add_user(data, "bob", password="short")
    assert result.returncode == 1
    assert "at least 8 characters" in result.stderr and "Traceback" not in result.stderr
    assert rows(data, "SELECT * FROM users") == []


def test_user_add_without_a_password_source_fails(data: Path) -> None:
    result = vigremote("user", "add", "bob", "--data", str(data), stdin="")
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr


async def test_session_create_prints_links_a_server_accepts(bob_and_sue: Path) -> None:
    data = bob_and_sue
    result = vigremote(
        "session", "create", "--owner", "bob", "--case-label", "Family X", "--data", str(data)
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) >= {"case_id", "session_id", "family_link"}
    assert created["family_link"].startswith("http://localhost:8080/f/")
    # The label can name the family: it is stored sealed with the case's key (keyring.py).
    [(case_id, label)] = rows(data, "SELECT id, label FROM cases")
    assert case_id == created["case_id"] and "Family X" not in label
    with contextlib.closing(sqlite3.connect(data / "vigremote.sqlite3")) as db:
        assert Keyring(db, load_master_key(data, create=False)).open_text(label) == "Family X"
    assert rows(data, "SELECT id, status FROM sessions") == [(created["session_id"], "open")]

    # A second session for the same case by id.
    again = vigremote(
        "session", "create", "--owner", "bob", "--case", created["case_id"], "--data", str(data)
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["case_id"] == created["case_id"]

    # A server on the same data folder lets the family in with the printed link.
    runner, server = await start_server(data)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
            token = created["family_link"].rsplit("/", 1)[1]
            await ws.send_json({"type": "hello", "version": 1, "token": token})
            welcome = await ws.receive_json(timeout=5)
            assert welcome["type"] == "welcome"
            assert welcome["session"]["id"] == created["session_id"]
            assert welcome["you"]["role"] == "family"
    finally:
        await runner.cleanup()


def test_session_create_refuses_unknown_owners_and_other_peoples_cases(bob_and_sue: Path) -> None:
    data = str(bob_and_sue)
    nobody, sue, no_case = in_parallel(
        ("session", "create", "--owner", "nobody", "--case-label", "X", "--data", data),
        ("session", "create", "--owner", "sue", "--case-label", "X", "--data", data),
        ("session", "create", "--owner", "bob", "--case", "no-such-case", "--data", data),
    )
    for result, owner in ((nobody, "nobody"), (sue, "sue")):
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == f"error: no practitioner called '{owner}'"
    assert no_case.returncode == 1 and "no such case" in no_case.stderr
    for result in (nobody, sue, no_case):
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert rows(bob_and_sue, "SELECT * FROM cases") == []
    assert rows(bob_and_sue, "SELECT * FROM sessions") == []


async def read_demo(stdout: asyncio.StreamReader) -> dict[str, Any]:
    """The JSON `serve --demo` prints before it says it is listening."""
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(stdout.readline(), TIMEOUT)).decode()
        assert line, "vigremote serve exited before listening: " + "".join(lines)
        if line.startswith("vigremote listening on"):
            demo: dict[str, Any] = json.loads("".join(lines))
            return demo
        lines.append(line)


async def wait_until_up(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    for _ in range(200):
        with contextlib.suppress(aiohttp.ClientConnectionError):
            async with http.get(url) as response:
                await response.read()
                return response
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")


async def test_serve_demo_prints_credentials_that_log_in(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    process = await asyncio.create_subprocess_exec(
        *COMMAND,
        *("serve", "--demo", "--port", str(port), "--data", str(data)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,  # its log; an unread pipe could fill and block it
    )
    try:
        assert process.stdout is not None
        demo = await read_demo(process.stdout)
        base = f"http://localhost:{port}"
        assert demo["practitioner_page"] == f"{base}/app"
        assert demo["family_link"].startswith(f"{base}/f/")
        login = demo["practitioner_login"]
        assert login["username"] == "demo" and len(login["password"]) >= 8

        async with aiohttp.ClientSession() as http:
            page = await wait_until_up(http, f"{base}/app")
            assert page.status == 200 and "text/html" in page.content_type
            wrong = {"username": "demo", "password": login["password"] + "x"}
            async with http.post(f"{base}/api/login", json=wrong) as response:
                assert response.status == 401
            async with http.post(f"{base}/api/login", json=login) as response:
                assert response.status == 200, await response.text()
                me = await response.json()
            assert me["user"]["username"] == "demo" and me["user"]["role"] == "practitioner"
            async with http.get(f"{base}/api/sessions/{demo['session_id']}") as response:
                assert response.status == 200
                assert (await response.json())["session"]["case_id"] == demo["case_id"]
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
    assert process.returncode is not None
