"""The live-state interface (vigremote/live/): the same tests against the in-process backend and
a real Redis (the machine's, on 127.0.0.1:6379, each test in a namespace of its own); what only
several processes can show (two owners competing, events crossing, Redis restarting) runs on
Redis, two backends in one test standing for two processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.support.redis_server import PrivateRedis
from vigremote.live.events import (
    ClusterEvent,
    ConsentChanged,
    ItemsRemoved,
    LoggedOut,
    SessionEnded,
    decode,
    encode,
)
from vigremote.live.redis_state import RedisLiveState
from vigremote.live.state import InProcessLiveState, LiveState, Worker

SHARED_REDIS = "redis://127.0.0.1:6379/0"
Make = Callable[[str], RedisLiveState]


class Received:
    def __init__(self) -> None:
        self.events: list[ClusterEvent] = []

    async def __call__(self, event: ClusterEvent) -> None:
        self.events.append(event)

    async def wait_for(self, count: int) -> None:
        for _ in range(200):
            if len(self.events) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.events)} events arrived, expected {count}")


@pytest.fixture
async def redis_workers() -> AsyncIterator[Make]:
    """RedisLiveState per worker name, all in one fresh namespace; closed afterwards."""
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    made: list[RedisLiveState] = []

    def make(name: str, url: str = SHARED_REDIS, ttl_s: float = 0.6) -> RedisLiveState:
        state = RedisLiveState(url, Worker(name, f"http://127.0.0.1/{name}"), ttl_s, namespace)
        made.append(state)
        return state

    yield make
    for state in made:
        await state.close()


@pytest.fixture(params=["in-process", "redis"])
async def live(request: pytest.FixtureRequest, redis_workers: Make) -> LiveState:
    if request.param == "in-process":
        return InProcessLiveState(Worker("w1"), ttl_s=0.6)
    return redis_workers("w1")


async def test_a_room_is_claimed_kept_and_given_up(live: LiveState) -> None:
    await live.start(Received())
    assert await live.owner("s1") is None
    assert await live.claim("s1") == live.worker
    assert await live.claim("s1") == live.worker  # claiming again keeps it
    assert await live.owner("s1") == live.worker
    await asyncio.sleep(0.4)
    assert await live.renew(["s1"]) == []
    await asyncio.sleep(0.4)  # past the first term: renewed, still held
    assert await live.owner("s1") == live.worker
    await live.release("s1")
    assert await live.owner("s1") is None


async def test_a_lease_not_renewed_lapses(live: LiveState) -> None:
    await live.start(Received())
    await live.claim("s1")
    await asyncio.sleep(0.8)
    assert await live.owner("s1") is None


async def test_the_roster_is_read_back_until_the_room_is_given_up(live: LiveState) -> None:
    await live.start(Received())
    await live.claim("s1")
    people = [{"id": "fam", "role": "family", "name": "Family", "media": "connected"}]
    await live.set_roster("s1", people)
    assert await live.roster("s1") == people
    assert await live.roster("other") == []
    await live.release("s1")
    assert await live.roster("s1") == []


async def test_an_event_is_handled_here_before_publish_returns(live: LiveState) -> None:
    received = Received()
    await live.start(received)
    await live.publish(ConsentChanged("case-1"))
    assert received.events == [ConsentChanged("case-1")]


def test_events_cross_as_json_and_nothing_else_is_taken() -> None:
    event = ItemsRemoved("case-1", (("clip", "c1"), ("still", "s2")), "deleted")
    assert decode(encode(event)) == event
    assert decode(encode(LoggedOut("login-1"))) == LoggedOut("login-1")
    for bad in (
        '{"event": "Nope"}',
        '{"event": "SessionEnded"}',
        "[]",
        '{"event": "SessionEnded", "session_id": "s", "x": 1}',
    ):
        with pytest.raises(ValueError):
            decode(bad)


async def test_two_processes_one_owner_and_the_room_moves_when_the_owner_stops(
    redis_workers: Make,
) -> None:
    first, second = redis_workers("w1"), redis_workers("w2")
    for state in (first, second):
        await state.start(Received())
    assert await first.claim("s1") == first.worker
    assert await second.claim("s1") == first.worker  # the second is told who owns it
    assert await second.renew(["s1"]) == ["s1"]  # and cannot renew what it does not hold
    await second.release("s1")  # nor give it up
    assert await second.owner("s1") == first.worker
    # The first stops renewing (it died): after the lease's term the second takes the room.
    await asyncio.sleep(0.8)
    assert await second.claim("s1") == second.worker
    assert await first.renew(["s1"]) == ["s1"]  # the first, back, learns it lost it


async def test_events_reach_every_process_once(redis_workers: Make) -> None:
    first, second = redis_workers("w1"), redis_workers("w2")
    got_first, got_second = Received(), Received()
    await first.start(got_first)
    await second.start(got_second)
    await first.publish(SessionEnded("s1"))
    await second.publish(ConsentChanged("case-1"))
    await got_first.wait_for(2)
    await got_second.wait_for(2)
    await asyncio.sleep(0.2)  # nothing more comes (no echo of one's own)
    assert got_first.events == [SessionEnded("s1"), ConsentChanged("case-1")]
    assert got_second.events == [ConsentChanged("case-1"), SessionEnded("s1")]


async def test_a_redis_restart_is_survived_leases_taken_again_and_events_flow(
    tmp_path: Path, redis_workers: Make
) -> None:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        first = redis_workers("w1", server.url, 2.0)  # type: ignore[call-arg]
        second = redis_workers("w2", server.url, 2.0)  # type: ignore[call-arg]
        got_second = Received()
        reconnected = asyncio.Event()

        async def resync() -> None:
            reconnected.set()

        second.on_reconnected = resync
        await first.start(Received())
        await second.start(got_second)
        await first.claim("s1")

        server.stop()  # everything in it is gone
        await asyncio.sleep(0.5)
        await first.publish(SessionEnded("lost"))  # handled here; the others resynchronise
        server.start()
        await asyncio.wait_for(reconnected.wait(), timeout=10)
        assert await first.renew(["s1"]) == []  # its room is its again
        assert await second.owner("s1") == first.worker
        await first.publish(SessionEnded("s2"))
        await got_second.wait_for(1)
        assert got_second.events == [SessionEnded("s2")]
    finally:
        server.stop()


async def test_a_server_starts_without_redis_and_asks_sockets_to_try_again(tmp_path: Path) -> None:
    """Redis down at start-up: the server still starts and answers; a socket for a room it
    cannot claim is told to try again (1013), which browsers do by themselves."""
    from tests.conftest import free_port, start_server

    dead = f"redis://127.0.0.1:{free_port()}/0"
    runner, server = await start_server(tmp_path / "data", redis_url=dead)
    try:
        owner = server.add_user("alice")
        created = server.new_session(owner)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/api/openapi.json") as response:
                assert response.status == 200
            async with http.ws_connect(server.ws_url) as ws:
                await ws.send_json({"type": "hello", "version": 1, "token": created["token"]})
                closing = await ws.receive(timeout=20)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert (closing.data, closing.extra) == (1013, "the server is busy: try again")
    finally:
        await runner.cleanup()
