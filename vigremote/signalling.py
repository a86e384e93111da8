"""The signalling WebSocket: one per browser, handshake first, identity from the signed token.

Two kinds of error, as the protocol document in web/protocol.js describes:
- a protocol error (not JSON, no handshake, wrong version, bad token, binary or oversized frame)
  closes the socket with a code and a reason;
- a user error (a bad offer, a command the role may not give) is an {"type": "error"} message
  and the socket stays open, with nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from vigremote.auth import Identity, InvalidToken
from vigremote.cases import link_in_force
from vigremote.config import PROTOCOL_VERSION
from vigremote.errors import CLOSE_PROTOCOL_ERROR, ProtocolError, UserError  # noqa: F401
from vigremote.httpjson import BadJson, decode_json
from vigremote.live.placement import TryAgain, room_here_or_relay
from vigremote.live.relay import relay
from vigremote.media.peers import BadOffer, Peer, Slot, check_offer
from vigremote.messages import CLIENT_TYPES, ServerMessage
from vigremote.rooms import (
    CLOSE_POLICY,
    Outbox,
    Participant,
    Room,
    end_room,
    feed_published_by,
    layout,
)
from vigremote.state import (
    CONFIG,
    JOIN_HOOKS,
    LIVE,
    MESSAGE_HANDLERS,
    ROOM_SYSTEMS,
    ROOMS,
    SIGNER,
    STORE,
)
from vigremote.storage import NotFound, Session
from vigremote.supervision.call import KIND as CALL_KIND
from vigremote.supervision.call import call_session
from vigremote.turn import ice_servers_for

log = logging.getLogger(__name__)

CLOSE_REPLACED = 4001
CLOSE_ENDED = 4002
CLOSE_TOO_SLOW = 4003
CLOSE_TRY_AGAIN = 1013  # WebSocket's "try again later": the browser reconnects by itself


class Relayed(Exception):
    """This socket was served by the room's own process (relayed there) and is done."""


HANDSHAKE_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 2.0


class Connection:
    """One browser's signalling socket, from handshake to hang-up."""

    def __init__(
        self, app: web.Application, ws: web.WebSocketResponse, transport: Any = None
    ) -> None:
        self.app = app
        self.ws = ws
        self._transport = transport  # to cut a socket whose reader stopped reading
        self.config = app[CONFIG]
        self.room: Room | None = None
        self.participant: Participant | None = None
        # Work this connection started and must finish or cancel before it is gone.
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            identity = await self._handshake()
            await self._join(identity)
            await self._read_loop()
        except Relayed:
            return  # the room's own process served this socket, through this one
        except ProtocolError as exc:
            log.info("closing socket: %s", exc)
            await self.ws.close(code=exc.code, message=str(exc)[:120].encode())
        finally:
            await self._leave()

    # handshake ----------------------------------------------------------------------------
    async def _handshake(self) -> Identity:
        try:
            msg = await self.ws.receive(timeout=HANDSHAKE_TIMEOUT_S)
        except TimeoutError:
            raise ProtocolError("no handshake received") from None
        hello = self._parse(msg)
        hello_text = msg.data if hello is not None else ""
        if hello is None:
            raise ProtocolError("the socket closed before the handshake")
        if hello.get("type") != "hello":
            raise ProtocolError("the first message must be the 'hello' handshake")
        if hello.get("version") != PROTOCOL_VERSION:
            raise ProtocolError(
                f"unsupported protocol version (this server speaks {PROTOCOL_VERSION})"
            )
        try:
            identity = self.app[SIGNER].verify(hello.get("token"))  # type: ignore[arg-type]
        except InvalidToken as exc:
            raise ProtocolError(str(exc), CLOSE_POLICY) from None
        try:
            session = self._session(identity.session_id)
        except NotFound:
            raise ProtocolError("this link is not valid", CLOSE_POLICY) from None
        if session.kind == CALL_KIND and identity.role == "family":
            raise ProtocolError("a family link never joins a supervision call", CLOSE_POLICY)
        if not session.is_open:
            raise ProtocolError("the session has ended", CLOSE_ENDED)
        self._check_not_revoked(identity, session)
        rooms = self.app[ROOMS]
        try:
            room = await room_here_or_relay(
                session.id,
                self.app[LIVE],
                here=lambda: rooms.get(session.id),
                open_here=lambda: rooms.open(session.id, session.case_id, session.kind),
                relay_to=lambda owner: relay(
                    self.ws, hello_text, owner, self.config.max_message_bytes
                ),
            )
        except TryAgain:
            raise ProtocolError("the server is busy: try again", CLOSE_TRY_AGAIN) from None
        if room is None:
            raise Relayed()
        self.room = room
        return identity

    def _session(self, session_id: str) -> Session:
        """A case's session, or a supervision call (supervision/call.py)."""
        try:
            return self.app[STORE].session(session_id)
        except NotFound:
            return call_session(self.app, session_id)

    def _check_not_revoked(self, identity: Identity, session: Session) -> None:
        """A replaced family link, or a practitioner token whose login ended, is refused."""
        if identity.role == "family" and not link_in_force(session, identity.token_id):
            raise ProtocolError("this link was replaced by a newer one", CLOSE_POLICY)
        if identity.role in ("practitioner", "supervisor") or identity.login_id:
            login = self.app[STORE].login(identity.login_id) if identity.login_id else None
            if login is None or login.user.id != identity.participant_id:
                raise ProtocolError("please log in again", CLOSE_POLICY)

    def _parse(self, msg: Any) -> dict[str, Any] | None:
        """A text frame's JSON object; None when the socket is closing."""
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return None
        if msg.type != WSMsgType.TEXT:
            raise ProtocolError("only JSON text messages are accepted")
        try:
            data = decode_json(msg.data)
        except BadJson as exc:
            reason = "malformed JSON" if str(exc) == "not valid JSON" else str(exc)
            raise ProtocolError(reason) from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ProtocolError("a message must be a JSON object with a 'type'")
        return data

    async def _join(self, identity: Identity) -> None:
        assert self.room is not None
        outbox = Outbox(self.config.outgoing_queue_size, self._too_slow)
        participant = Participant(identity.participant_id, identity.role, identity.name, outbox)
        participant.disconnect = self._disconnect
        participant.login_id = identity.login_id
        self.participant = participant
        self._writer = asyncio.create_task(self._write_loop(outbox))
        previous = await self.room.join(participant)
        if previous is not None:
            previous.disconnect(CLOSE_REPLACED, "you joined again from another page")
        self.app[STORE].audit(
            identity.participant_id, "joined", f"session:{identity.session_id}", role=identity.role
        )
        outbox.send(
            {
                "type": "welcome",
                "version": PROTOCOL_VERSION,
                "you": participant.describe(),
                "session": {"id": self.room.session_id, "kind": self.room.kind},
                "iceServers": [s.to_json() for s in ice_servers_for(self.config, participant.id)],
                "slots": [spec.to_json() for spec in layout(self.room.kind, participant.role)],
            }
        )
        if not self.room.systems_opened:  # a room just opened here: its system participants
            self.room.systems_opened = True
            for make in self.app[ROOM_SYSTEMS].get(self.room.kind, ()):
                await make(self.app, self.room)
        for hook in self.app[JOIN_HOOKS]:
            await hook(self.app, self.room, participant)
        await self.room.send_roster()

    # messages -----------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        while not self.ws.closed:
            message = self._parse(await self.ws.receive())
            if message is None:
                return
            try:
                await self._dispatch(message)
            except UserError as exc:
                self._user_error(exc.code, str(exc), message["type"])
            except Exception:
                # A bug must not hang up on a family mid-call: say so, keep the socket.
                log.exception("message %r failed", message["type"][:40])
                self._user_error("server-error", "that did not work; nothing changed", "")

    def _user_error(self, code: str, text: str, about: str) -> None:
        self._send({"type": "error", "code": code, "message": text, "about": about})

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "offer":
            await self._on_offer(message)
        elif kind == "candidate":
            await self._on_candidate(message)
        elif kind == "ping":
            self._send({"type": "pong"})
        elif kind == "control":
            await self._on_control(message)
        elif kind == "end":
            await self._on_end()
        elif kind == "hello":
            raise UserError("already-joined", "the handshake was already done")
        elif kind in CLIENT_TYPES and kind in self.app[MESSAGE_HANDLERS]:
            # Only types vigremote/messages.py defines reach a handler.
            assert self.room is not None and self.participant is not None
            await self.app[MESSAGE_HANDLERS][kind](self.app, self.room, self.participant, message)
        else:
            raise UserError("unknown-type", f"unknown message type {kind[:40]!r}")

    async def _on_offer(self, message: dict[str, Any]) -> None:
        assert self.room is not None and self.participant is not None
        config = self.config
        specs = layout(self.room.kind, self.participant.role)
        try:
            sdp = check_offer(
                message.get("sdp"),
                config.max_sdp_lines,
                config.max_message_bytes,
                [spec.kind for spec in specs],
            )
        except BadOffer as exc:
            raise UserError("bad-offer", str(exc)) from None
        slots = [
            Slot(
                spec.name,
                spec.kind,
                self.room.feed(spec.watches, spec.kind).subscribe() if spec.watches else None,
                spec.publish,
            )
            for spec in specs
        ]
        peer = Peer(config.ice_servers, config.video_codecs, self._peer_state)
        try:
            answer = await peer.answer(sdp, slots)
        except BadOffer as exc:
            await peer.close()
            raise UserError("bad-offer", str(exc)) from None
        previous, self.participant.peer = self.participant.peer, peer
        self._publish(peer)
        if previous is not None:
            await self._retire(previous)
        self._send({"type": "answer", "sdp": answer, "codec": peer.video_codec})

    def _publish(self, peer: Peer) -> None:
        """Make this browser's tracks the sources of its role's feeds (the recorder taps them)."""
        assert self.room is not None and self.participant is not None
        published = feed_published_by(self.participant.role)
        for incoming in peer.incoming:
            if published is not None:
                self.room.feed(published, incoming.kind).attach(
                    incoming.track, incoming.request_keyframe
                )
            else:
                peer.drain(incoming.track)  # the peer owns the task: close() ends it
        for unused in peer.unused:
            peer.drain(unused.track)

    async def _retire(self, peer: Peer) -> None:
        """Close a peer this participant no longer uses, and unhook its tracks from feeds."""
        assert self.room is not None and self.participant is not None
        published = feed_published_by(self.participant.role)
        if published is not None:
            for incoming in peer.incoming:
                self.room.feed(published, incoming.kind).detach(incoming.track)
        await peer.close()

    async def _on_candidate(self, message: dict[str, Any]) -> None:
        assert self.participant is not None
        if self.participant.peer is None:
            raise UserError("no-connection", "send an offer before candidates")
        try:
            await self.participant.peer.add_candidate(message.get("candidate"))
        except BadOffer as exc:
            raise UserError("bad-candidate", str(exc)) from None

    async def _on_control(self, message: dict[str, Any]) -> None:
        assert self.room is not None and self.participant is not None
        if self.participant.role != "practitioner":
            raise UserError("not-allowed", "only the practitioner can do that")
        action = message.get("action")
        if action not in ("switch-camera",):
            raise UserError("bad-control", "unknown control action")
        families = [m for m in await self.room.members() if m.role == "family"]
        if not families:
            raise UserError("no-family", "the family is not connected")
        for family in families:
            family.outbox.send({"type": "control", "action": action})

    async def _on_end(self) -> None:
        assert self.room is not None and self.participant is not None
        if self.participant.role != "practitioner":
            raise UserError("not-allowed", "only the practitioner can end the session")
        store = self.app[STORE]
        store.end_session(self.room.session_id)
        store.audit(self.participant.id, "session-ended", f"session:{self.room.session_id}")
        await end_room(self.room)

    # outgoing -----------------------------------------------------------------------------
    def _send(self, message: ServerMessage) -> None:
        if self.participant is not None:
            self.participant.outbox.send(message)

    async def _write_loop(self, outbox: Outbox) -> None:
        while True:
            message = await outbox.queue.get()
            if message is None or self.ws.closed:
                return
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError):
                return

    def _too_slow(self) -> None:
        self._disconnect(CLOSE_TOO_SLOW, "the connection is too slow")

    def _disconnect(self, code: int, reason: str) -> None:
        if not self.ws.closed:
            self._spawn(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        """Close with a code and reason; a browser that stopped reading never lets the close
        frame through, so after CLOSE_WAIT_S the connection is cut."""
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), CLOSE_WAIT_S)
        except TimeoutError:
            if self._transport is not None:
                self._transport.abort()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task this connection owns (awaited or cancelled when it leaves)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _peer_state(self, peer: Peer, state: str) -> None:
        participant = self.participant
        if participant is None or participant.peer is not peer or self.room is None:
            return
        participant.media_state = state
        self._spawn(self.room.send_roster())

    # leaving ------------------------------------------------------------------------------
    async def _leave(self) -> None:
        participant, room = self.participant, self.room
        if participant is None and room is not None:  # the handshake failed after opening it
            await self.app[ROOMS].discard_if_empty(room)
        if participant is None or room is None:
            return
        if participant.peer is not None:
            await self._retire(participant.peer)
            participant.peer = None
        if await room.leave(participant):
            await room.send_roster()
            await self.app[ROOMS].discard_if_empty(room)
        participant.outbox.close()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._writer, timeout=2)
        await self._finish_tasks()

    async def _finish_tasks(self) -> None:
        """Give this connection's tasks a moment to finish, then cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=2)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    config = request.app[CONFIG]
    ws = web.WebSocketResponse(max_msg_size=config.max_message_bytes, heartbeat=config.heartbeat_s)
    await ws.prepare(request)
    await Connection(request.app, ws, request.transport).run()
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ws", websocket)
