"""Load: 200 participants join 20 rooms across two worker processes (real processes, a real
Redis), each through whichever process its socket reached (half of them relayed to the room's
owner). One of them stops reading its socket; the burst of roster updates that follows fills
its bounded queue, so it is dropped, while everyone else, in its room and the others, gets
every message. Prints the join time (p50, p95) and the messages lost."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.redis_server import PrivateRedis
from tests.test_workers import cluster, redis_server  # noqa: F401 (fixture)
from vigremote.auth import TokenSigner
from vigremote.config import Config, load_secret
from vigremote.keys import load_master_key
from vigremote.records import open_records

ROOMS, PER_ROOM = 20, 10
BURST_OTHERS = 6  # "muted" changes each person sends in the other rooms
SLOW_ROOM_EVERY_S = 0.09  # in the slow reader's room, each sends one this often until it is gone
SLOW_ROOM_AT_MOST_S = 40.0
# In the slow reader's room, long names make big roster messages (about 10 KB): the socket
# buffers between the server and a reader that stopped (several MB) fill sooner.
LONG_NAME = "Observer " + "x" * 1000


def seed_rooms(data: Path) -> list[tuple[str, list[str]]]:
    """ROOMS sessions, and PER_ROOM observer tokens for each (signed with the folder's key)."""
    config = Config(data_dir=data, master_key=load_master_key(data))
    records = open_records(config)
    try:
        owner = records.store.add_user("carol", "Carol", "practitioner", "unused")
        sessions = []
        for index in range(ROOMS):
            case = records.store.add_case(owner.id, f"Family {index}")
            sessions.append(records.store.add_session(case.id, "filming").id)
    finally:
        records.close()
    signer = TokenSigner(load_secret(data))
    return [
        (
            s,
            [
                signer.issue(s, "observer", f"o{r}-{i}", LONG_NAME if r == 0 else f"O{i}", 600)
                for i in range(PER_ROOM)
            ],
        )
        for r, s in enumerate(sessions)
    ]


class Person:
    def __init__(self, http: aiohttp.ClientSession, url: str, token: str, reads: bool) -> None:
        self.http, self.url, self.token, self.reads = http, url, token, reads
        self.ws: Any = None
        self.rosters = 0
        self.last_roster: list[dict[str, Any]] = []
        self.join_s = 0.0
        self.closed: object = None  # the close code, if the server hung up
        self._reader: asyncio.Task[None] | None = None

    async def join(self) -> None:
        started = time.monotonic()
        self.ws = await self.http.ws_connect(self.url)
        await self.ws.send_str(json.dumps({"type": "hello", "version": 1, "token": self.token}))
        while True:
            frame = await self.ws.receive()
            assert frame.type == aiohttp.WSMsgType.TEXT, (frame.type, frame.data, frame.extra)
            if json.loads(frame.data)["type"] == "welcome":
                break
        self.join_s = time.monotonic() - started
        if self.reads:
            self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                message = json.loads(frame.data)
                if message["type"] == "participants":
                    self.rosters += 1
                    self.last_roster = message["participants"]
        self.closed = self.ws.close_code

    async def toggle(self, times: int, every_s: float, until: asyncio.Event) -> int:
        """Turn the microphone off and on `times` times (or until `until`); returns how often."""
        sent = 0
        while sent < times and not until.is_set():
            off = ["audio"] if sent % 2 == 0 else []
            try:
                await self.ws.send_str(json.dumps({"type": "muted", "off": off}))
            except aiohttp.ClientConnectionResetError:
                self.closed = self.closed or "reset"  # hung up on: counted below
                break
            sent += 1
            await asyncio.sleep(every_s)
        return sent

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.ws.close()


async def settle(people: list[Person], seconds: float = 0.5) -> None:
    """Wait until no roster has arrived for `seconds` (at most 30 s)."""
    deadline = time.monotonic() + 30
    last = -1
    while time.monotonic() < deadline:
        now = sum(p.rosters for p in people)
        if now == last:
            return
        last = now
        await asyncio.sleep(seconds)


async def stopped_reader(port: int, token: str) -> asyncio.StreamWriter:
    """A participant that joins and then never reads again, with a small receive buffer: a
    phone whose page froze. (aiohttp's client keeps reading into memory, so this is done by
    hand: the WebSocket upgrade, one masked text frame, then nothing.)"""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    writer.write(upgrade.encode())
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    payload = json.dumps({"type": "hello", "version": 1, "token": token}).encode()
    mask = os.urandom(4)
    header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask
    writer.write(header + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await writer.drain()
    await asyncio.sleep(0.5)  # joined (its welcome waits, unread, with all that follows)
    return writer


async def _until_gone(watching: Person, participant_id: str, gone: asyncio.Event) -> None:
    """Set `gone` once `participant_id` is no longer in the roster `watching` last received."""
    deadline = time.monotonic() + SLOW_ROOM_AT_MOST_S
    while time.monotonic() < deadline:
        if watching.last_roster and participant_id not in {p["id"] for p in watching.last_roster}:
            break
        await asyncio.sleep(0.05)
    gone.set()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_200_participants_on_two_processes_and_one_slow_reader_dropped_alone(
    tmp_path: Path,
    redis_server: PrivateRedis,  # noqa: F811
) -> None:
    data = tmp_path / "data"
    rooms = seed_rooms(data)
    started = time.monotonic()
    async with (
        cluster(data, redis_server.url, tmp_path / "cluster.log") as running,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        # The slow reader joins first (its room lives where it landed), then everyone at once.
        slow_session, slow_tokens = rooms[0]
        slow_at = time.monotonic()
        slow = await stopped_reader(running.workers["w0"][1], slow_tokens[0])
        slow_join_s = time.monotonic() - slow_at
        people: list[list[Person]] = []
        for index, (_, tokens) in enumerate(rooms):
            start = 1 if index == 0 else 0
            people.append(
                [
                    Person(http, running.ws(f"w{(i + index) % 2}"), tokens[i], reads=True)
                    for i in range(start, PER_ROOM)
                ]
            )
        everyone = [p for room in people for p in room]
        await asyncio.gather(*(p.join() for p in everyone))
        joins = [slow_join_s] + [p.join_s for p in everyone]
        await settle(everyone)
        before = {id(p): p.rosters for p in everyone}

        burst_started = time.monotonic()
        slow_gone, never = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(_until_gone(people[0][0], "o0-0", slow_gone))
        sending = [
            [
                p.toggle(10_000, SLOW_ROOM_EVERY_S, slow_gone)
                if index == 0
                else p.toggle(BURST_OTHERS, 0.05, never)
                for p in room
            ]
            for index, room in enumerate(people)
        ]
        sent = [await asyncio.gather(*room) for room in sending]
        watcher.cancel()
        await settle(everyone)
        burst_s = time.monotonic() - burst_started

        lost = 0
        for index, room in enumerate(people):
            expected = sum(sent[index])  # every change is one roster to everyone in the room
            for person in room:
                lost += max(0, expected - (person.rosters - before[id(person)]))
        # The slow reader is gone from its room; everyone else is still there.
        remaining = {p["id"] for p in people[0][0].last_roster}
        in_room_0 = {f"o0-{i}" for i in range(1, PER_ROOM)}
        for person in everyone:
            await person.close()
        slow.close()
    total_s = time.monotonic() - started
    figures = {
        "participants": len(joins),
        "join_p50_ms": round(statistics.median(joins) * 1000, 1),
        "join_p95_ms": round(quantile(joins, 0.95) * 1000, 1),
        "roster_messages_expected": sum(sum(sent[i]) * len(room) for i, room in enumerate(people)),
        "slow_room_changes": sum(sent[0]),
        "messages_lost": lost,
        "others_hung_up": sum(1 for p in everyone if p.closed is not None),
        "burst_s": round(burst_s, 2),
        "test_s": round(total_s, 1),
    }
    print("load:", json.dumps(figures))
    assert len(joins) == ROOMS * PER_ROOM
    assert lost == 0, figures
    assert "o0-0" not in remaining, "the slow reader was dropped"
    assert in_room_0 <= remaining, "nobody else in its room was"
    assert figures["join_p95_ms"] < 5000, figures
