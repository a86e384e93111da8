"""Supervision calls: the server plays a trainee's shared clips and stills into a call for the
trainee, their supervisor and peers (up to six people), as in a shared review: play, pause on
the same sharp frame for everyone, seek, step, slow, loop. One person drives at a time; the
driver hands control to another (the driver is told to everyone). The call's length (from the
moment two people were in it to its end) goes into the supervision log.

Who may join: the trainee, and anyone who may see every item of the call now (a share of it to
them: their supervisor, or their peer group; supervision/api.py's rules). A family link never
joins: a call is not a case's session. What the family's consent no longer allows leaves the
call at once (CallPlayer.on_consent), as it leaves every list.
A recorded shared review plays with both its cameras beside the clip it showed, all on the
recording's timeline (review/recorded.py): a pause holds the same moment of all three.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from vigremote.accounts import current_login_id, current_user
from vigremote.errors import UserError
from vigremote.httpjson import error, read_json
from vigremote.live.events import SessionEnded
from vigremote.live.keeper import roster_of
from vigremote.messages import Driver
from vigremote.review import control as review_control
from vigremote.review.player import Item, Player
from vigremote.review.replay import recorded_review
from vigremote.rooms import SYSTEM_ROLES, Participant, Room
from vigremote.state import (
    CLIPS,
    CONFIG,
    LIVE,
    RATINGS,
    RECORDINGS,
    SIGNER,
    STORE,
    SUPERVISION,
    VAULT,
)
from vigremote.storage import NotFound, Session, User, new_id
from vigremote.supervision.api import can_see, shared_item
from vigremote.supervision.store import Share

KIND = "supervision"
MAX_PEOPLE = 6
WITHDRAWN = "Consent to show this was taken back, so it is no longer shown."
CALL_SCHEMA = """
CREATE TABLE IF NOT EXISTS supervision_calls (
    id TEXT PRIMARY KEY,
    trainee_id TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    items TEXT NOT NULL,
    created_at REAL NOT NULL,
    together_at REAL,
    ended_at REAL,
    supervisor_joined INTEGER NOT NULL DEFAULT 0
)"""


@dataclass(frozen=True)
class Call:
    id: str
    trainee_id: str
    opened_by: str
    items: list[tuple[str, str]]  # (kind, item id), in order
    created_at: float
    together_at: float | None
    ended_at: float | None

    def session(self) -> Session:
        """The call as a live session (signalling and rooms know sessions)."""
        status = "ended" if self.ended_at else "open"
        return Session(
            self.id,
            f"supervision:{self.trainee_id}",
            KIND,
            status,
            self.created_at,
            self.ended_at,
            None,
        )


def _calls(app: web.Application) -> Any:
    db = app[STORE].db
    db.execute(CALL_SCHEMA)
    return db


def get_call(app: web.Application, call_id: str) -> Call:
    row = _calls(app).execute("SELECT * FROM supervision_calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        raise NotFound("no such supervision call")
    items = [(k, i) for k, i in json.loads(row["items"])]
    return Call(
        row["id"],
        row["trainee_id"],
        row["opened_by"],
        items,
        row["created_at"],
        row["together_at"],
        row["ended_at"],
    )


def call_session(app: web.Application, session_id: str) -> Session:
    """signalling's lookup for a session id that is a supervision call (NotFound if not)."""
    return get_call(app, session_id).session()


def _visible_shares(app: web.Application, user: User, call: Call) -> dict[tuple[str, str], Share]:
    """Of the call's items, those `user` may see now, with the share that lets them."""
    found: dict[tuple[str, str], Share] = {}
    for share in app[SUPERVISION].shares([call.trainee_id]):
        key = (share.kind, share.item_id)
        if key in call.items and key not in found and can_see(app, user, share):
            found[key] = share
    return found


def may_join(app: web.Application, user: User, call: Call) -> bool:
    if user.id == call.trainee_id:
        return True
    return set(_visible_shares(app, user, call)) == set(call.items)


def role_in_call(app: web.Application, user: User, call: Call) -> str:
    if user.id == call.trainee_id:
        return "practitioner"
    if app[SUPERVISION].supervisor_of(call.trainee_id) == user.id:
        return "supervisor"
    return "observer"  # a peer


# -- REST ----------------------------------------------------------------------------------
async def open_call(request: web.Request) -> web.Response:
    """{"shares": [share ids]}: the trainee (or their supervisor) opens a call on them."""
    user = current_user(request)
    app = request.app
    body = await read_json(request)
    ids = body.get("shares")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 30:
        raise error(400, "bad-field", "'shares' must list 1 to 30 shared items")
    shares = []
    for share_id in ids:
        try:
            share = app[SUPERVISION].get_share(str(share_id))
        except NotFound:
            raise error(404, "not-found", "no such shared item") from None
        if not can_see(app, user, share):
            app[STORE].audit(user.id, "access-denied", f"share:{share.id}")
            raise error(403, "forbidden", "an item is not shared with you (or no longer)")
        shares.append(share)
    trainees = {s.trainee_id for s in shares}
    if len(trainees) != 1:
        raise error(400, "bad-field", "a call is about one trainee's shared items")
    items = list(dict.fromkeys((s.kind, s.item_id) for s in shares))
    call = Call(new_id(), trainees.pop(), user.id, items, time.time(), None, None)
    with _calls(app) as db:
        db.execute(
            "INSERT INTO supervision_calls VALUES (?, ?, ?, ?, ?, NULL, NULL, 0)",
            (call.id, call.trainee_id, user.id, json.dumps(items), call.created_at),
        )
    app[STORE].audit(user.id, "supervision-call-opened", f"call:{call.id}", items=len(items))
    return web.json_response(
        {"call": {"id": call.id, "url": f"/supervision-call/{call.id}"}}, status=201
    )


def _joinable(request: web.Request) -> tuple[User, Call]:
    user = current_user(request)
    try:
        call = get_call(request.app, request.match_info["call_id"])
    except NotFound:
        raise error(404, "not-found", "no such supervision call") from None
    if not may_join(request.app, user, call):
        request.app[STORE].audit(user.id, "access-denied", f"call:{call.id}")
        raise error(403, "forbidden", "this call is about items not shared with you")
    return user, call


async def get_call_info(request: web.Request) -> web.Response:
    user, call = _joinable(request)
    store = request.app[STORE]
    return web.json_response(
        {
            "id": call.id,
            "trainee": store.user(call.trainee_id).display_name,
            "items": len(call.items),
            "ended": call.ended_at is not None,
            "role": role_in_call(request.app, user, call),
        }
    )


async def join_token(request: web.Request) -> web.Response:
    user, call = _joinable(request)
    if call.ended_at is not None:
        raise error(409, "session-ended", "this supervision call has ended")
    roster = await roster_of(request.app, call.id)  # on whichever process has the call
    people = [p for p in roster if p["role"] not in SYSTEM_ROLES and p["id"] != user.id]
    if len(people) >= MAX_PEOPLE:
        raise error(409, "call-full", f"a supervision call holds {MAX_PEOPLE} people")
    token = request.app[SIGNER].issue(
        call.id,
        role_in_call(request.app, user, call),
        user.id,
        user.display_name,
        request.app[CONFIG].participant_token_ttl_s,
        login_id=current_login_id(request),
    )
    return web.json_response({"token": token})


async def end_call(request: web.Request) -> web.Response:
    """The trainee or the supervisor ends the call (also once nothing in it may be shown any
    more); its length goes into the log."""
    user = current_user(request)
    app = request.app
    try:
        call = get_call(app, request.match_info["call_id"])
    except NotFound:
        raise error(404, "not-found", "no such supervision call") from None
    if user.id != call.trainee_id and app[SUPERVISION].supervisor_of(call.trainee_id) != user.id:
        app[STORE].audit(user.id, "access-denied", f"call:{call.id}")
        raise error(403, "forbidden", "the trainee or their supervisor ends the call")
    if call.ended_at is None:
        now = time.time()
        with _calls(app) as db:
            db.execute("UPDATE supervision_calls SET ended_at = ? WHERE id = ?", (now, call.id))
        duration = now - call.together_at if call.together_at else 0.0
        if duration > 0:
            # With the supervisor it is supervision (hours); among peers, a peer supervision.
            joined = (
                _calls(app)
                .execute("SELECT supervisor_joined FROM supervision_calls WHERE id = ?", (call.id,))
                .fetchone()[0]
            )
            supervisor = app[SUPERVISION].supervisor_of(call.trainee_id) or call.opened_by
            app[RATINGS].add(
                call.trainee_id,
                supervisor,
                "call" if joined else "peer",
                call.together_at or now,
                duration,
                "call",
            )
        app[STORE].audit(
            user.id, "supervision-call-ended", f"call:{call.id}", seconds=round(duration)
        )
        await app[LIVE].publish(SessionEnded(call.id))
    return web.json_response({"ended": call.id})


# -- the live side ---------------------------------------------------------------------------
class CallPlayer(Player):
    """The review player with a driver, whose items are checked against each family's consent
    (items come from several families: one room-wide set of purposes does not fit)."""

    def __init__(self, app: web.Application, call: Call, room: Room, items: list[Item]) -> None:
        super().__init__(room, items, room.broadcast, app[VAULT], app[CONFIG].video_codecs[0])
        self.app, self.call = app, call
        self.driver: tuple[str, str] | None = None  # (participant id, name)

    async def on_consent(self, purposes: tuple[str, ...]) -> None:
        trainee = self.app[STORE].user(self.call.trainee_id)
        visible = _visible_shares(self.app, trainee, self.call)
        gone = {(i.kind, i.id) for i in self.items if (i.kind, i.id) not in visible}
        if gone:
            await self.remove(gone, WITHDRAWN)

    def driver_message(self) -> Driver:
        person_id, name = self.driver or ("", "")
        return {"type": "driver", "id": person_id, "name": name}

    async def set_driver(self, participant: Participant) -> None:
        self.driver = (participant.id, participant.name)
        await self.room.broadcast(self.driver_message())


def _items(app: web.Application, call: Call) -> list[Item]:
    items = []
    for kind, item_id in call.items:
        try:
            shared = shared_item(app, kind, item_id)
        except (NotFound, web.HTTPException):
            continue
        first = app[CLIPS].clip(item_id).first_frame if kind == "clip" else 0
        review = None
        if kind == "recording":
            review = recorded_review(app, app[RECORDINGS].get(item_id))
        items.append(Item(kind, item_id, shared.title, shared.files[0], first, recorded=review))
    return items


async def player_of(app: web.Application, room: Room) -> CallPlayer:
    existing = room.system(Player.id)
    if isinstance(existing, CallPlayer):
        return existing
    call = get_call(app, room.session_id)
    player = CallPlayer(app, call, room, _items(app, call))
    room.add_system(player)
    await player.on_consent(())  # what may no longer be shown never shows
    if player.items:
        await player.select(0)
    return player


async def on_join(app: web.Application, room: Room, participant: Participant) -> None:
    """A newcomer gets the player's state and the driver; the first to come drives; the call's
    length counts from the moment two people are in it."""
    if room.kind != KIND:
        return
    player = await player_of(app, room)
    members = [m for m in await room.members() if m.role != "player"]
    present = {m.id for m in members}
    if player.driver is None or player.driver[0] not in present:
        await player.set_driver(participant)
    else:
        participant.outbox.send(player.driver_message())
    participant.outbox.send(player.status())
    if participant.role == "supervisor":
        with _calls(app) as db:
            db.execute(
                "UPDATE supervision_calls SET supervisor_joined = 1 WHERE id = ?",
                (room.session_id,),
            )
    if len(members) >= 2 and player.call.together_at is None:
        now = time.time()
        with _calls(app) as db:
            db.execute(
                "UPDATE supervision_calls SET together_at = ? WHERE id = ? AND together_at IS NULL",
                (now, room.session_id),
            )
        player.call = get_call(app, room.session_id)


async def handle_command(
    app: web.Application, room: Room, participant: Participant, message: dict[str, Any]
) -> None:
    """A "review" command: in a call only the driver drives ("hand-over" gives that to someone
    present); in a shared review, review/control.py decides."""
    if room.kind != KIND:
        await review_control.handle_review(app, room, participant, message)
        return
    player = await player_of(app, room)
    present = {m.id: m for m in await room.members()}
    if player.driver is None or player.driver[0] not in present:
        await player.set_driver(participant)  # the driver left: whoever acts next drives
    assert player.driver is not None
    if participant.id != player.driver[0]:
        raise UserError("not-allowed", f"{player.driver[1]} is driving: ask them to hand over")
    if message.get("action") == "hand-over":
        target = present.get(str(message.get("to")))
        if target is None or target.role == "player":
            raise UserError("bad-review", "hand over to someone in the call")
        await player.set_driver(target)
        app[STORE].audit(
            participant.id, "call-control-handed-over", f"call:{room.session_id}", to=target.id
        )
        return
    if message.get("action") in ("request-pause", "accept-pause", "dismiss-pause"):
        raise UserError("bad-review", "pause requests are for families in shared reviews")
    await review_control.drive(player, message)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/supervision-calls", open_call)
    app.router.add_get("/api/supervision-calls/{call_id}", get_call_info)
    app.router.add_post("/api/supervision-calls/{call_id}/join-token", join_token)
    app.router.add_post("/api/supervision-calls/{call_id}/end", end_call)


def openapi_paths(op: Any, param: Any) -> dict[str, Any]:
    call = [param("call_id")]
    return {
        "/api/supervision-calls": {
            "post": op("Open a supervision call on shared clips and stills", ok=201)
        },
        "/api/supervision-calls/{call_id}": {
            "parameters": call,
            "get": op("A supervision call: whose, how many items, my role", write=False),
        },
        "/api/supervision-calls/{call_id}/join-token": {
            "parameters": call,
            "post": op("A token for my signalling socket in the call"),
        },
        "/api/supervision-calls/{call_id}/end": {
            "parameters": call,
            "post": op("End the call (its length goes into the supervision log)"),
        },
    }
