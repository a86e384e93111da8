"""Where a room lives (vigremote/live/placement.py): here, opened here, or relayed to its owner.

The whole path with real processes and Redis is in test_workers.py; here each branch alone,
with the in-process live state (one process holding leases for two worker names).
"""

from __future__ import annotations

import pytest

from vigremote.live import placement
from vigremote.live.placement import TryAgain, room_here_or_relay
from vigremote.live.relay import OwnerUnreachable
from vigremote.live.state import InProcessLiveState, Worker

HERE, THERE = Worker("w1", "http://127.0.0.1:1"), Worker("w2", "http://127.0.0.1:2")


class Rooms:
    def __init__(self) -> None:
        self.open: dict[str, str] = {}
        self.relayed: list[Worker] = []

    def opener(self, room_id: str) -> str:
        self.open[room_id] = f"room {room_id}"
        return self.open[room_id]

    async def relay(self, owner: Worker) -> None:
        self.relayed.append(owner)


async def test_a_room_already_here_is_used_without_asking_the_live_state() -> None:
    live = InProcessLiveState(HERE)
    await live.claim("s1")
    live.worker = THERE  # were it asked, the lease would say another process holds it
    rooms = Rooms()
    rooms.open["s1"] = "room s1"
    room = await room_here_or_relay(
        "s1", live, lambda: rooms.open.get("s1"), lambda: rooms.opener("s1"), rooms.relay
    )
    assert room == "room s1" and rooms.relayed == []


async def test_a_free_room_is_claimed_and_opened_here() -> None:
    live, rooms = InProcessLiveState(HERE), Rooms()
    room = await room_here_or_relay(
        "s1", live, lambda: rooms.open.get("s1"), lambda: rooms.opener("s1"), rooms.relay
    )
    assert room == "room s1"
    assert await live.owner("s1") == HERE


async def test_a_room_held_elsewhere_is_relayed_to_its_owner() -> None:
    live, rooms = InProcessLiveState(THERE), Rooms()
    await live.claim("s1")  # THERE holds it
    live.worker = HERE
    room = await room_here_or_relay(
        "s1", live, lambda: rooms.open.get("s1"), lambda: rooms.opener("s1"), rooms.relay
    )
    assert room is None and rooms.relayed == [THERE] and rooms.open == {}


async def test_an_unreachable_owner_is_waited_for_then_the_browser_told_to_try_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(placement, "LEASE_TTL_S", -1.5)  # the deadline is 0.5 s away
    monkeypatch.setattr(placement, "RETRY_S", 0.1)
    live, rooms = InProcessLiveState(THERE), Rooms()
    await live.claim("s1")
    live.worker = HERE
    tries: list[Worker] = []

    async def dead_owner(owner: Worker) -> None:
        tries.append(owner)
        raise OwnerUnreachable("connection refused")

    with pytest.raises(TryAgain):
        await room_here_or_relay(
            "s1", live, lambda: rooms.open.get("s1"), lambda: rooms.opener("s1"), dead_owner
        )
    assert len(tries) >= 3 and rooms.open == {}


async def test_a_dead_owners_lease_lapses_and_the_room_is_taken_here() -> None:
    live, rooms = InProcessLiveState(THERE, ttl_s=0.3), Rooms()
    await live.claim("s1")
    live.worker = HERE

    async def dead_owner(owner: Worker) -> None:
        raise OwnerUnreachable("connection refused")

    room = await room_here_or_relay(
        "s1", live, lambda: rooms.open.get("s1"), lambda: rooms.opener("s1"), dead_owner
    )
    assert room == "room s1" and await live.owner("s1") == HERE


async def test_a_live_state_that_cannot_be_reached_asks_the_browser_to_try_again() -> None:
    class Unreachable(InProcessLiveState):
        async def claim(self, session_id: str) -> Worker:
            raise ConnectionError("redis is down")

    rooms = Rooms()
    with pytest.raises(TryAgain):
        await room_here_or_relay(
            "s1",
            Unreachable(HERE),
            lambda: rooms.open.get("s1"),
            lambda: rooms.opener("s1"),
            rooms.relay,
        )
    assert rooms.open == {}
