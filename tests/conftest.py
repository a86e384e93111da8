"""Fixtures that start real vigremote servers on free ports (no mocks)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.signalling_client import Filming
from vigremote.app import create_app
from vigremote.auth import Passwords, new_login_secret
from vigremote.cases import open_session
from vigremote.config import Config
from vigremote.state import SIGNER, STORE
from vigremote.storage import Store, User

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def answers(url: str) -> None:
    """Until a server started as a separate process answers at `url` (its base address)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{url}/api/openapi.json") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")


@dataclass
class RunningServer:
    app: web.Application
    config: Config

    @property
    def url(self) -> str:
        return self.config.base_url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"

    @property
    def store(self) -> Store:
        return self.app[STORE]

    def add_user(self, username: str, role: str = "practitioner") -> User:
        return self.store.add_user(username, username.title(), role, Passwords().hash(PASSWORD))

    def new_session(self, owner: User, label: str = "Family A") -> dict[str, Any]:
        case = self.store.add_case(owner.id, label)
        created = open_session(self.store, self.config, self.app[SIGNER], case)
        created["case_id"] = case.id
        created["token"] = created["family_link"].rsplit("/", 1)[1]
        return created

    def practitioner_token(self, session_id: str, user: User, ttl_s: int = 600) -> str:
        """A signalling token as /join-token gives it: tied to a live login of `user`."""
        login_id = new_login_secret()[1]
        self.store.add_login(login_id, user.id, "csrf-unused", time.time() + ttl_s)
        return self.app[SIGNER].issue(
            session_id, "practitioner", user.id, user.display_name, ttl_s, login_id=login_id
        )


async def start_server(data_dir: Path, **overrides: Any) -> tuple[web.AppRunner, RunningServer]:
    config = Config(data_dir=data_dir, host="127.0.0.1", port=free_port(), **overrides)
    app = create_app(config)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    return runner, RunningServer(app, config)


SHARED_REDIS = "redis://127.0.0.1:6379/0"  # the machine's (.ci/run starts one)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module with `LIVE_BACKENDS = True` runs its `server` tests twice: with the
    in-process live state and with Redis (vigremote/live/): the same tests against both."""
    if getattr(metafunc.module, "LIVE_BACKENDS", False) and "server" in metafunc.fixturenames:
        metafunc.parametrize("live_backend", ["in-process", "redis"], indirect=True)


@pytest.fixture
def live_backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "in-process"))


@pytest.fixture
async def server(tmp_path: Path, live_backend: str) -> AsyncIterator[RunningServer]:
    overrides: dict[str, Any] = {}
    if live_backend == "redis":  # a namespace and a worker of its own in the shared Redis
        name = f"test-{uuid.uuid4().hex[:12]}"
        overrides = {"redis_url": SHARED_REDIS, "live_namespace": name, "worker_id": name}
    runner, running = await start_server(tmp_path / "data", **overrides)
    yield running
    await runner.cleanup()


async def login(http: aiohttp.ClientSession, server: RunningServer, username: str) -> str:
    """Log in over the REST API; returns the CSRF token."""
    async with http.post(
        f"{server.url}/api/login", json={"username": username, "password": PASSWORD}
    ) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["csrf"])


@pytest.fixture
async def filming(server: RunningServer) -> AsyncIterator[Filming]:
    """An open filming session with its practitioner (tests/support/signalling_client.py)."""
    # No login on the socket, so no need to spend an Argon2 hash on a password.
    owner = server.store.add_user("alice", "Alice", "practitioner", "unused")
    created = server.new_session(owner)
    session_id = created["session"]["id"]
    async with aiohttp.ClientSession() as http:
        yield Filming(
            server,
            http,
            owner.id,
            session_id,
            created["token"],
            server.practitioner_token(session_id, owner),
        )
