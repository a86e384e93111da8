"""Where a room lives: in this process, or in the one that holds its lease.

All of a room lives in one process (its peers, feeds, recorder and player). A browser's socket may
reach any process; the first to claim the room's lease opens the room, and the others relay their
sockets to it (relay.py). An owner that does not answer has died: its lease lapses within
LEASE_TTL_S, and then the room is taken by the process that asks next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from vigremote.live.relay import OwnerUnreachable
from vigremote.live.state import LEASE_TTL_S, LiveState, Worker

log = logging.getLogger(__name__)

R = TypeVar("R")

RETRY_S = 0.25


class TryAgain(Exception):
    """No process can serve the room just now (the live state is unreachable, or a dead owner's
    lease did not lapse in time): the browser should come back a little later."""


async def room_here_or_relay(
    room_id: str,
    live: LiveState,
    here: Callable[[], R | None],
    open_here: Callable[[], R],
    relay_to: Callable[[Worker], Awaitable[None]],
) -> R | None:
    """The room if it lives, or may now live, in this process (`here` finds it, `open_here`
    opens it); otherwise None, once `relay_to` has carried the socket to the owner and back."""
    deadline = time.monotonic() + LEASE_TTL_S + 2
    while True:
        room = here()
        if room is not None:
            return room  # already here (and kept here even while the live state is away)
        try:
            owner = await live.claim(room_id)
        except Exception as exc:
            log.warning("could not claim room %s: %s", room_id, exc)
            raise TryAgain() from None
        if owner == live.worker:
            return open_here()
        try:
            await relay_to(owner)
            return None
        except OwnerUnreachable:
            if time.monotonic() > deadline:
                raise TryAgain() from None
            await asyncio.sleep(RETRY_S)
