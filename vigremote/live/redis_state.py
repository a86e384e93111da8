"""The live state in Redis, shared by server processes on one machine or several.

- A lease is a key holding its owner (`SET NX PX`), renewed by the owner's heartbeat and given
  up only by its owner (small Lua scripts make check-and-act atomic). A process that dies stops
  renewing: after the lease's time another process takes the room.
- A roster is a key beside its lease, with the same life.
- Events go out on one pub/sub channel; each process handles its own at once (the REST request
  that made it waits for that) and ignores its echo.
Redis may restart or drop: rooms running keep their media, the heartbeat takes its leases again
when Redis is back (its keys are gone after a restart), and the subscriber rebuilds its
connection and subscribes again with back-off (redis-py does not do this by itself), then calls
`on_reconnected` so the process can resynchronise what it may have missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from vigremote.live.events import ClusterEvent, decode, encode
from vigremote.live.state import LEASE_TTL_S, EventHandler, Worker, raise_if_cancelled
from vigremote.messages import Participant

log = logging.getLogger(__name__)

NAMESPACE = "vigremote"  # the start of every key and channel (one Redis, several services)
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)
MAX_CONNECTIONS = 32  # to Redis, per process (one of them holds the event subscription)

_RENEW = """
local mine = redis.call('GET', KEYS[1]) == ARGV[1]
if mine or redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"""


class RedisLiveState:
    def __init__(
        self, url: str, worker: Worker, ttl_s: float = LEASE_TTL_S, namespace: str = NAMESPACE
    ) -> None:
        self.worker = worker
        self.namespace = namespace
        self._channel = f"{namespace}:events"
        self.ttl_ms = int(ttl_s * 1000)
        self._me = json.dumps(worker.to_json(), sort_keys=True)
        # Many sockets join at once: they wait their turn for a connection (up to 5 s) rather
        # than fail on an exhausted pool.
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=5.0,
            decode_responses=True,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
        )
        self._client: Any = redis.Redis.from_pool(pool)  # closes the pool with the client
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)
        self._on_event: EventHandler | None = None
        self._subscriber: asyncio.Task[None] | None = None
        self.on_reconnected: Callable[[], Awaitable[None]] | None = None
        self.connected = asyncio.Event()  # the subscription is up (tests wait for it)

    def _lease(self, session_id: str) -> str:
        return f"{self.namespace}:lease:{session_id}"

    def _roster(self, session_id: str) -> str:
        return f"{self.namespace}:roster:{session_id}"

    async def start(self, on_event: EventHandler) -> None:
        self._on_event = on_event
        self._subscriber = asyncio.create_task(self._subscribe(), name="live-state-events")
        try:
            await asyncio.wait_for(self.connected.wait(), timeout=5.0)
        except TimeoutError:
            log.warning("Redis is not answering yet: events will flow once it does")

    async def close(self) -> None:
        task, self._subscriber = self._subscriber, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._client.aclose()

    async def claim(self, session_id: str) -> Worker:
        for _ in range(3):  # a lease may lapse between the SET and the GET: try again
            if await self._client.set(self._lease(session_id), self._me, nx=True, px=self.ttl_ms):
                return self.worker
            held = await self.owner(session_id)
            if held == self.worker:
                await self._client.pexpire(self._lease(session_id), self.ttl_ms)
                return held
            if held is not None:
                return held
        raise RedisError("the room's lease could not be read")

    async def owner(self, session_id: str) -> Worker | None:
        value = await self._client.get(self._lease(session_id))
        if value is None:
            return None
        data = json.loads(value)
        return Worker(str(data["id"]), str(data.get("internal_url", "")))

    async def renew(self, session_ids: list[str]) -> list[str]:
        lost = []
        for session_id in session_ids:
            keys = [self._lease(session_id), self._roster(session_id)]
            if not await self._renew(keys=keys, args=[self._me, self.ttl_ms]):
                lost.append(session_id)
        return lost

    async def release(self, session_id: str) -> None:
        await self._release(
            keys=[self._lease(session_id), self._roster(session_id)], args=[self._me]
        )

    async def set_roster(self, session_id: str, roster: list[Participant]) -> None:
        await self._client.set(self._roster(session_id), json.dumps(roster), px=self.ttl_ms)

    async def roster(self, session_id: str) -> list[Participant]:
        value = await self._client.get(self._roster(session_id))
        return list(json.loads(value)) if value else []

    async def publish(self, event: ClusterEvent) -> None:
        if self._on_event is not None:
            await self._on_event(event)
        message = json.dumps({"from": self.worker.id, "event": encode(event)})
        try:
            await self._client.publish(self._channel, message)
        except (RedisError, OSError):
            # The other processes resynchronise their rooms when Redis is back.
            log.warning("Redis is unreachable: %s reaches this process only", type(event).__name__)

    async def _subscribe(self) -> None:
        """Listen for the other processes' events; rebuild the subscription when it drops."""
        failures, ever_connected = 0, False
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if ever_connected and self.on_reconnected is not None:
                    await self._resynchronise()
                ever_connected, failures = True, 0
                self.connected.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    raise_if_cancelled()
                    if message is not None:
                        await self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                raise_if_cancelled(exc)
                self.connected.clear()
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                log.warning("lost Redis (%s); subscribing again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                await asyncio.shield(pubsub.aclose())

    async def _resynchronise(self) -> None:
        assert self.on_reconnected is not None
        try:
            await self.on_reconnected()
        except (RedisError, OSError):
            raise
        except Exception:
            log.exception("resynchronising after Redis came back failed")

    async def _deliver(self, data: str) -> None:
        try:
            wrapper = json.loads(data)
            if wrapper.get("from") == self.worker.id:
                return  # our own, handled when published
            event = decode(wrapper["event"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed live-state event")
            return
        if self._on_event is not None:
            try:
                await self._on_event(event)
            except Exception:
                log.exception("handling %s failed", type(event).__name__)
