"""This process's side of the live state: the backend chosen by the configuration, its leases
renewed while its rooms live, events handed to the domain handlers, and a resynchronisation
when Redis comes back (what a process missed while Redis was away is re-applied to its rooms).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from vigremote.config import Config
from vigremote.live.events import ClusterEvent, ConsentChanged, SessionEnded
from vigremote.live.redis_state import RedisLiveState
from vigremote.live.state import (
    LEASE_TTL_S,
    InProcessLiveState,
    LiveState,
    Worker,
    raise_if_cancelled,
)
from vigremote.messages import Participant
from vigremote.rooms import end_room
from vigremote.state import EVENT_HANDLERS, LIVE, ROOMS, ROSTERS, STORE

log = logging.getLogger(__name__)


def make_live_state(config: Config) -> LiveState:
    worker = Worker(config.worker_id, config.internal_url)
    if config.redis_url:
        return RedisLiveState(config.redis_url, worker, namespace=config.live_namespace)
    return InProcessLiveState(worker)


async def dispatch(app: web.Application, event: ClusterEvent) -> None:
    """Hand an event (this process's or another's) to its domain handler."""
    handler = app[EVENT_HANDLERS].get(type(event))
    if handler is None:
        log.warning("no handler for %s", type(event).__name__)
        return
    await handler(app, event)


async def roster_of(app: web.Application, session_id: str) -> list[Participant]:
    """Who is in a room: read from the room when it lives here, else from the live state."""
    room = app[ROOMS].get(session_id)
    if room is not None:
        return await room.roster()
    return await app[LIVE].roster(session_id)


async def live_state(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: start the live state, keep this process's leases, stop both at the end."""
    live = app[LIVE]
    if isinstance(live, RedisLiveState):
        live.on_reconnected = lambda: resynchronise(app)
    await live.start(lambda event: dispatch(app, event))
    tasks = [
        asyncio.create_task(_keep_leases(app), name="live-state-leases"),
        asyncio.create_task(app[ROSTERS].run(live), name="live-state-rosters"),
    ]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for room in app[ROOMS].all():
        await _quietly(live.release(room.session_id))
    await live.close()


async def _keep_leases(app: web.Application) -> None:
    """Renew the leases of this process's rooms; a room another process took (this one was
    cut off too long) is ended here, so its people reconnect to the owner."""
    live, every = app[LIVE], LEASE_TTL_S / 4
    while True:
        await asyncio.sleep(every)
        rooms = {room.session_id: room for room in app[ROOMS].all()}
        try:
            lost = await live.renew(list(rooms))
        except Exception as exc:  # Redis away: the rooms carry on, leases are taken again later
            raise_if_cancelled(exc)
            log.warning("could not renew room leases: %s", exc)
            continue
        raise_if_cancelled()
        for session_id in lost:
            log.error("room %s is owned by another process now: ending it here", session_id)
            await end_room(rooms[session_id])


async def resynchronise(app: web.Application) -> None:
    """Redis is back: rosters again, and every room re-checks its consent and whether its
    session has ended, as the events it may have missed would have made it do."""
    live = app[LIVE]
    await live.renew([room.session_id for room in app[ROOMS].all()])  # ours again, first
    cases: set[str] = set()
    for room in app[ROOMS].all():
        await live.set_roster(room.session_id, await room.roster())
        cases.add(room.case_id)
        if not _session_open(app, room.session_id):
            await dispatch(app, SessionEnded(room.session_id))
    for case_id in cases:
        await dispatch(app, ConsentChanged(case_id))


def _session_open(app: web.Application, session_id: str) -> bool:
    from vigremote.storage import NotFound
    from vigremote.supervision.call import call_session

    try:
        return app[STORE].session(session_id).is_open
    except NotFound:
        try:
            return call_session(app, session_id).is_open
        except NotFound:
            return False


async def _quietly(work: Any) -> None:
    try:
        await work
    except Exception as exc:
        log.warning("live state: %s", exc)
