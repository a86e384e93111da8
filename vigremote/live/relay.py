"""Carry a browser's signalling socket to the process that owns its room.

All of a room lives in one process; a browser's socket may reach any process (they share one
address). The one it reached opens a socket of its own to the owner's internal listener, sends
the browser's handshake on, and copies text messages both ways until either side closes; the
owner's close code and reason reach the browser. Media never passes here: the owner's answer
names the owner's own ICE candidates, so the browser's media goes straight to it.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import WSMsgType, web

from vigremote.live.state import Worker

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0


class OwnerUnreachable(Exception):
    """The owner did not answer (it may have died: its lease lapses soon)."""


async def relay(ws: web.WebSocketResponse, hello: str, owner: Worker, max_bytes: int) -> None:
    """Relay `ws` (its handshake `hello` already read) to `owner` until either side closes."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            upstream = await http.ws_connect(
                f"{owner.internal_url}/ws", max_msg_size=max_bytes, autoping=True
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise OwnerUnreachable(str(exc)) from None
        async with upstream:
            await upstream.send_str(hello)
            down = asyncio.create_task(_copy_down(upstream, ws), name="relay-down")
            up = asyncio.create_task(_copy_up(ws, upstream), name="relay-up")
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
            for task in (down, up):
                task.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
            if not ws.closed:
                await ws.close(code=1011, message=b"the server's process went away")


async def _copy_down(upstream: aiohttp.ClientWebSocketResponse, ws: web.WebSocketResponse) -> None:
    """The owner's messages to the browser; its close (code and reason) too."""
    while True:
        message = await upstream.receive()
        if message.type == WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type != WSMsgType.BINARY:
            break
    reason = str(message.extra or "") if message.type == WSMsgType.CLOSE else ""
    code = upstream.close_code or 1011
    if not reason and code == 1011:
        reason = "the server's process went away"
    await ws.close(code=code, message=reason.encode()[:120])


async def _copy_up(ws: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """The browser's messages to the owner (it applies its own limits and closes on abuse)."""
    while True:
        message = await ws.receive()
        if message.type == WSMsgType.TEXT:
            await upstream.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await upstream.send_bytes(message.data)
        else:
            break
    await upstream.close(code=ws.close_code or 1000)
