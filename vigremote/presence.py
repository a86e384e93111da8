"""What each person in a call has turned off (microphone, camera), told to the others.

A browser sends {"type": "muted", "off": ["audio", "video"]} whenever its microphone or camera
goes off or on, and again after every reconnection (a new connection starts with nothing off).
The room's roster carries it, so the other side can say "your practitioner's microphone is off"
instead of leaving a silence or a black picture unexplained.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigremote.errors import UserError
from vigremote.rooms import Participant, Room

KINDS = ("audio", "video")


async def handle_muted(
    app: web.Application, room: Room, participant: Participant, message: dict[str, Any]
) -> None:
    """Keep what this person turned off on their roster entry, and tell everyone if it changed."""
    off = message.get("off")
    if not isinstance(off, list) or len(off) > len(KINDS) or any(k not in KINDS for k in off):
        raise UserError("bad-muted", "off must list what is turned off: 'audio', 'video'")
    kinds = tuple(k for k in KINDS if k in off)
    if kinds == participant.muted:
        return
    participant.muted = kinds
    await room.send_roster()
