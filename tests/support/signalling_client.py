"""A small signalling client for tests: the WebSocket of a real server, read message by message.

`Filming` is one open session (its practitioner, the family's and practitioner's tokens) as the
starting point of the socket tests; the `filming` fixture in tests/conftest.py makes one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import WSMsgType

from vigremote.rooms import Participant, Room
from vigremote.state import ROOMS

if TYPE_CHECKING:  # conftest imports this module for its `filming` fixture
    from tests.conftest import RunningServer

TIMEOUT = 5.0
WS = aiohttp.ClientWebSocketResponse
# State the server announces on its own (to newcomers and on changes), not replies to a request.
ANNOUNCEMENTS = {"participants", "consent", "recording"}


async def receive_json(ws: WS) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
    assert msg.type == WSMsgType.TEXT, f"expected a message, got {msg.type} {msg.data!r}"
    message = json.loads(msg.data)
    assert isinstance(message, dict)
    return message


async def expect(ws: WS, wanted: str) -> dict[str, Any]:
    """The next message of type `wanted`, skipping announcements; anything else fails."""
    while True:
        message = await receive_json(ws)
        if message["type"] == wanted:
            return message
        assert message["type"] in ANNOUNCEMENTS, f"expected {wanted!r}, got {message}"


async def replies_to(ws: WS, message: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Send `message` then a ping: all the server said in between, announcements aside.

    The server handles a socket's messages in order, so any reply to `message` comes before the
    pong, and getting the pong at all proves the socket is still open and serving.
    """
    if isinstance(message, str):
        await ws.send_str(message)
    else:
        await ws.send_json(message)
    await ws.send_json({"type": "ping"})
    replies: list[dict[str, Any]] = []
    while True:
        reply = await receive_json(ws)
        if reply["type"] == "pong":
            return replies
        if reply["type"] not in ANNOUNCEMENTS:
            replies.append(reply)


async def closed_with(ws: WS) -> tuple[int | None, str]:
    """Read until the server closes the socket: its close code and reason."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if msg.type == WSMsgType.CLOSE:
            return msg.data, msg.extra or ""
        if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
            return ws.close_code, ""
        assert msg.type == WSMsgType.TEXT
        assert json.loads(msg.data)["type"] in ANNOUNCEMENTS | {"welcome", "ended"}


async def hello(ws: WS, token: object, version: object = 1) -> None:
    await ws.send_json({"type": "hello", "version": version, "token": token})


def user_error(replies: list[dict[str, Any]], code: str, about: str) -> dict[str, Any]:
    assert len(replies) == 1, replies
    error = replies[0]
    assert error["type"] == "error" and error["code"] == code and error["about"] == about, error
    assert isinstance(error["message"], str) and error["message"]
    return error


async def roster_until(ws: WS, check: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """Read roster updates until one satisfies `check`."""
    while True:
        message = await expect(ws, "participants")
        if check(message["participants"]):
            return list(message["participants"])


@dataclass
class Filming:
    """One open session with its practitioner, as the tests' starting point."""

    server: RunningServer
    http: aiohttp.ClientSession
    owner_id: str
    session_id: str
    family_token: str
    practitioner_token: str

    @property
    def room(self) -> Room | None:
        return self.server.app[ROOMS].get(self.session_id)

    async def member(self, participant_id: str) -> Participant:
        assert self.room is not None
        member = await self.room.current(participant_id)
        assert member is not None
        return member

    async def members(self) -> list[Participant]:
        assert self.room is not None
        return await self.room.members()

    async def roles(self) -> list[str]:
        return sorted(m.role for m in await self.room.members()) if self.room else []

    @asynccontextmanager
    async def joined(self, token: str) -> AsyncIterator[tuple[WS, dict[str, Any]]]:
        async with self.http.ws_connect(self.server.ws_url) as ws:
            await hello(ws, token)
            yield ws, await expect(ws, "welcome")

    def family(self) -> Any:
        return self.joined(self.family_token)

    def practitioner(self) -> Any:
        return self.joined(self.practitioner_token)
