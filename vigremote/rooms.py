"""One Room per live session: who is in it, what each may see, and message fan-out.

The Room owns membership. Signalling and media ask it; they keep no copies of their own. Members
are copied under the lock and messages are sent after it is released, so a slow socket can
never hold up the room: each participant has a bounded outbox, and one that overflows is
dropped (its browser reconnects) instead of stalling everyone else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vigremote import messages
from vigremote.messages import MEDIA_KINDS, MediaKind, ServerMessage

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008  # a socket closed for a policy reason (revoked link, logged out)

# Who sees whom in a filming session: the practitioner (and any observer) watch the family;
# the family sees the practitioner only if the practitioner turns their camera on.
_WATCHES = {"family": "practitioner", "practitioner": "family", "observer": "family"}
_PUBLISHES = {"family": "family", "practitioner": "practitioner", "supervisor": "supervisor"}
# In a supervision call the trainee (as "practitioner") and their supervisor see each other;
# peers (as observers) see the trainee. Everyone gets the clip.
_CALL_WATCHES = {
    "practitioner": "supervisor",
    "supervisor": "practitioner",
    "observer": "practitioner",
}
CLIP_ROOMS = ("review", "supervision")


def publisher_watched_by(role: str) -> str | None:
    return _WATCHES.get(role)


@dataclass(frozen=True)
class SlotSpec:
    """One media line of a browser's connection: whose feed it carries, and if it publishes."""

    name: str  # "camera" (people) or "clip" (the server's player)
    kind: MediaKind
    watches: str | None  # the publisher whose feed the browser receives on it
    publish: bool  # whether the browser's own camera/microphone goes out on it

    def to_json(self) -> messages.Slot:
        return {"name": self.name, "kind": self.kind, "send": self.publish}


PLAYER = "player"
SYSTEM_ROLES = ("recorder", "player")  # system participants' roles: never people
# A recorded shared review played in a supervision call: the cameras it recorded.
RECORDED_CAMERAS = ("family", "practitioner")


def recorded_camera_feed(publisher: str) -> str:
    """The player's feed that carries a recorded review's camera of `publisher`."""
    return f"{PLAYER}-{publisher}"


def layout(room_kind: str, role: str) -> list[SlotSpec]:
    """The slots a browser offers, in order: its camera both ways, in a review the clip, and
    in a supervision call also a recorded review's two cameras ("recorded-family", ...)."""
    watched = _CALL_WATCHES.get(role) if room_kind == "supervision" else publisher_watched_by(role)
    publishes = feed_published_by(role) is not None
    slots = [SlotSpec("camera", kind, watched, publishes) for kind in MEDIA_KINDS]
    if room_kind in CLIP_ROOMS:
        slots += [SlotSpec("clip", kind, PLAYER, False) for kind in MEDIA_KINDS]
    if room_kind == "supervision":
        slots += [
            SlotSpec(f"recorded-{who}", kind, recorded_camera_feed(who), False)
            for who in RECORDED_CAMERAS
            for kind in MEDIA_KINDS
        ]
    return slots


def feed_published_by(role: str) -> str | None:
    return _PUBLISHES.get(role)


class SystemParticipant(Protocol):
    """A server-side member of the room (the recorder, the player). The room calls its typed
    hooks; it never reads what the room sends to browsers, nor another one's messages."""

    id: str
    role: str

    def describe(self) -> messages.Participant: ...

    def on_roster(self, roster: list[messages.Participant]) -> None:
        """Who is in the room now (after every change)."""

    def on_recording(self, status: messages.RecordingStatus) -> None:
        """The room's recording changed state (started, paused, stopped...)."""

    async def on_consent(self, purposes: tuple[str, ...]) -> None:
        """The family's consent changed: act on it now (stop recording, drop clips)."""

    async def close(self) -> None: ...


class Outbox:
    """A participant's bounded queue of outgoing messages, drained by its socket writer.

    Every message to a browser goes through one: only what vigremote/messages.py defines."""

    def __init__(self, size: int, on_overflow: Callable[[], None]) -> None:
        self.queue: asyncio.Queue[ServerMessage | None] = asyncio.Queue(maxsize=size)
        self._on_overflow = on_overflow
        self.overflowed = False

    def send(self, message: ServerMessage) -> bool:
        if self.overflowed:
            return False
        try:
            self.queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            self.overflowed = True
            self._on_overflow()
            return False

    def close(self) -> None:
        """Wake the writer so it can finish (the sentinel may be dropped if the queue is full)."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass


@dataclass(eq=False)
class Participant:
    id: str
    role: str
    name: str
    outbox: Outbox
    joined_at: float = field(default_factory=time.time)
    peer: Any = None  # the media Peer, owned by signalling
    media_state: str = "none"
    login_id: str | None = None  # a practitioner's login: logging out hangs up this socket
    disconnect: Callable[[int, str], None] = lambda code, reason: None
    muted: tuple[str, ...] = ()  # "audio"/"video" this person turned off (see presence.py)

    def describe(self) -> messages.Participant:
        described: messages.Participant = {
            "id": self.id,
            "role": self.role,
            "name": self.name,
            "media": self.media_state,
        }
        if self.muted:
            described["muted"] = list(self.muted)
        return described


# Takes a room's roster as it changes, without waiting (the live state writes it behind).
RosterSink = Callable[[str, list[messages.Participant]], None]


def _no_roster_sink(session_id: str, roster: list[messages.Participant]) -> None:
    return None


class Room:
    def __init__(
        self,
        session_id: str,
        case_id: str,
        kind: str,
        feed_factory: Callable[[str, str], Any],
        roster_sink: RosterSink = _no_roster_sink,
    ) -> None:
        self.session_id = session_id
        self.case_id = case_id
        self.kind = kind
        self._roster_sink = roster_sink  # the live state's copy, for REST on any process
        self._lock = asyncio.Lock()
        self._participants: dict[str, Participant] = {}
        self._feeds: dict[tuple[str, str], Any] = {}
        self._feed_factory = feed_factory
        self._system: dict[str, SystemParticipant] = {}
        self.systems_opened = False  # its system participants were made (signalling.py)
        self.closed = False

    async def join(self, participant: Participant) -> Participant | None:
        """Add a participant; returns the earlier connection of the same person, now replaced."""
        async with self._lock:
            previous = self._participants.get(participant.id)
            self._participants[participant.id] = participant
        return previous

    async def leave(self, participant: Participant) -> bool:
        """Remove this connection, unless a newer one of the same person replaced it."""
        async with self._lock:
            if self._participants.get(participant.id) is not participant:
                return False
            del self._participants[participant.id]
            return True

    async def members(self) -> list[Participant]:
        async with self._lock:
            return list(self._participants.values())

    async def current(self, participant_id: str) -> Participant | None:
        async with self._lock:
            return self._participants.get(participant_id)

    async def is_current(self, participant: Participant) -> bool:
        return await self.current(participant.id) is participant

    async def broadcast(self, message: ServerMessage, roles: tuple[str, ...] | None = None) -> None:
        """To the people in the room (system participants have typed hooks instead)."""
        for member in await self.members():
            if roles is None or member.role in roles:
                member.outbox.send(message)

    async def recording_changed(self, status: messages.RecordingStatus) -> None:
        """The recorder's state, to everyone: people see it, the other system participants
        act on it (the player notes what is on screen when a recording starts)."""
        await self.broadcast(status)
        for system in list(self._system.values()):
            system.on_recording(status)

    async def roster(self) -> list[messages.Participant]:
        people = [m.describe() for m in await self.members()]
        return people + [s.describe() for s in self._system.values()]

    def add_system(self, participant: SystemParticipant) -> None:
        self._system[participant.id] = participant

    def system(self, participant_id: str) -> SystemParticipant | None:
        return self._system.get(participant_id)

    async def consent_changed(self, purposes: tuple[str, ...]) -> None:
        """Hand the family's current purposes to every system participant (typed hook)."""
        for system in list(self._system.values()):
            await system.on_consent(purposes)

    async def send_roster(self) -> None:
        roster = await self.roster()
        await self.broadcast({"type": "participants", "participants": roster})
        for system in list(self._system.values()):
            system.on_roster(roster)
        self._roster_sink(self.session_id, roster)

    def feed(self, publisher: str, kind: str) -> Any:
        """The feed of `publisher`'s `kind` track; it outlives the publisher's connections."""
        key = (publisher, kind)
        if key not in self._feeds:
            self._feeds[key] = self._feed_factory(kind, f"{self.session_id}/{publisher}/{kind}")
        return self._feeds[key]

    async def close(self) -> None:
        """Let system participants finish (the recorder closes its files), then stop feeds."""
        self.closed = True
        for system in list(self._system.values()):
            await system.close()
        self._system.clear()
        for feed in self._feeds.values():
            await feed.close()  # cancels and awaits the feed's tasks
        self._feeds.clear()


async def end_room(room: Room) -> None:
    """Tell everyone the session is over and hang up on them."""
    await room.broadcast({"type": "ended"})
    for member in await room.members():
        member.disconnect(4002, "the session has ended")


class Rooms:
    """The rooms this process owns (live/ says which process owns which)."""

    def __init__(
        self,
        feed_factory: Callable[[str, str], Any],
        roster_sink: RosterSink = _no_roster_sink,
        on_discard: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._rooms: dict[str, Room] = {}
        self._feed_factory = feed_factory
        self._roster_sink = roster_sink
        self._on_discard = on_discard  # the room's lease is given up

    def get(self, session_id: str) -> Room | None:
        return self._rooms.get(session_id)

    def open(self, session_id: str, case_id: str, kind: str) -> Room:
        room = self._rooms.get(session_id)
        if room is None:
            room = Room(session_id, case_id, kind, self._feed_factory, self._roster_sink)
            self._rooms[session_id] = room
        return room

    async def discard_if_empty(self, room: Room) -> None:
        if not await room.members() and self._rooms.get(room.session_id) is room:
            del self._rooms[room.session_id]
            await room.close()
            await self._discarded(room.session_id)

    async def _discarded(self, session_id: str) -> None:
        if self._on_discard is not None:
            try:
                await self._on_discard(session_id)
            except Exception as exc:  # the lease lapses by itself
                log.warning("the lease of %s was not given up: %s", session_id, exc)

    def of_case(self, case_id: str) -> list[Room]:
        """The open rooms of one family's case (a consent change reaches all of them)."""
        return [room for room in self._rooms.values() if room.case_id == case_id]

    def all(self) -> list[Room]:
        return list(self._rooms.values())

    async def close_all(self) -> None:
        for room in list(self._rooms.values()):
            for member in await room.members():
                member.disconnect(1001, "the server is shutting down")
            await room.close()
            await self._discarded(room.session_id)  # another process may take it at once
        self._rooms.clear()
