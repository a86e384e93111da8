"""The live-state interface, and its in-process implementation (one server process, the default).

Live state is what the server's processes must agree on while sessions run, and nothing that
must survive them (that is the durable store's):
- which process owns each room: a lease the owner renews while the room lives. A room's media
  (peers, feeds, recorder, player) all live in its owner; a socket that reaches another
  process is relayed there (signalling.py);
- each room's roster, for REST requests on any process (who is in the call, is it full);
- events every process acts on for its own rooms (live/events.py).
The Redis implementation (live/redis_state.py) shares the same across processes and machines;
the same tests run against both (tests/test_live_state.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from vigremote.live.events import ClusterEvent
from vigremote.messages import Participant

log = logging.getLogger(__name__)

LEASE_TTL_S = 4.0  # a dead process's rooms move on after this long
EventHandler = Callable[[ClusterEvent], Awaitable[None]]


@dataclass(frozen=True)
class Worker:
    """A server process: its id, and where other processes relay a socket to it."""

    id: str
    internal_url: str = ""  # "http://host:port" of its internal listener; "" in one process

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "internal_url": self.internal_url}


class LiveState(Protocol):
    worker: Worker

    async def start(self, on_event: EventHandler) -> None:
        """Begin delivering events (every process's, this one's included) to `on_event`."""

    async def close(self) -> None: ...

    async def claim(self, session_id: str) -> Worker:
        """Take the room's lease if nobody holds it; returns the owner (maybe this process)."""

    async def owner(self, session_id: str) -> Worker | None: ...

    async def renew(self, session_ids: list[str]) -> list[str]:
        """Renew this process's leases; returns those it no longer holds."""

    async def release(self, session_id: str) -> None:
        """Give the lease up (only if this process holds it) and forget the roster."""

    async def set_roster(self, session_id: str, roster: list[Participant]) -> None: ...

    async def roster(self, session_id: str) -> list[Participant]:
        """Who is in the room now (on whichever process owns it); [] if it is not open."""

    async def publish(self, event: ClusterEvent) -> None:
        """Have every process act on the event; this one's handler has run when it returns."""


def raise_if_cancelled(exc: BaseException | None = None) -> None:
    """redis-py may swallow a cancellation (or turn it into a connection error): a task being
    cancelled must still stop, else whoever awaits it waits for ever. Call after its calls."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from exc


class InProcessLiveState:
    """One process: every lease is this process's, events go straight to its handler."""

    def __init__(self, worker: Worker | None = None, ttl_s: float = LEASE_TTL_S) -> None:
        self.worker = worker or Worker("local")
        self.ttl_s = ttl_s
        self._leases: dict[str, tuple[Worker, float]] = {}
        self._rosters: dict[str, list[Participant]] = {}
        self._on_event: EventHandler | None = None

    async def start(self, on_event: EventHandler) -> None:
        self._on_event = on_event

    async def close(self) -> None:
        self._on_event = None

    async def claim(self, session_id: str) -> Worker:
        held = await self.owner(session_id)
        if held is None or held == self.worker:
            self._leases[session_id] = (self.worker, time.monotonic() + self.ttl_s)
            return self.worker
        return held

    async def owner(self, session_id: str) -> Worker | None:
        lease = self._leases.get(session_id)
        if lease is None or lease[1] < time.monotonic():
            return None
        return lease[0]

    async def renew(self, session_ids: list[str]) -> list[str]:
        lost = []
        for session_id in session_ids:
            if await self.claim(session_id) != self.worker:
                lost.append(session_id)
        return lost

    async def release(self, session_id: str) -> None:
        if await self.owner(session_id) == self.worker:
            del self._leases[session_id]
        self._rosters.pop(session_id, None)

    async def set_roster(self, session_id: str, roster: list[Participant]) -> None:
        self._rosters[session_id] = list(roster)

    async def roster(self, session_id: str) -> list[Participant]:
        return list(self._rosters.get(session_id, []))

    async def publish(self, event: ClusterEvent) -> None:
        if self._on_event is not None:
            await self._on_event(event)


class RosterWriter:
    """Rooms hand it their rosters without waiting; it writes the latest of each to the live
    state behind them (a slow or absent Redis never holds up a join)."""

    def __init__(self) -> None:
        self._latest: dict[str, list[Participant]] = {}
        self._wake = asyncio.Event()

    def put(self, session_id: str, roster: list[Participant]) -> None:
        self._latest[session_id] = roster
        self._wake.set()

    async def run(self, live: LiveState) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._latest:
                session_id, roster = self._latest.popitem()
                try:
                    await live.set_roster(session_id, roster)
                except Exception as exc:
                    raise_if_cancelled(exc)
                    log.warning("the roster of %s was not shared: %s", session_id, exc)
                raise_if_cancelled()
