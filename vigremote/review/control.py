"""Preparing and driving a shared review: REST to build the playlist, signalling to play it.

Only clips and stills the family's current consent allows to be reviewed together
(consent/policy.py, use "review") can be put in a review, and the player drops any whose
consent is withdrawn, or that is deleted, while the review runs. The family never gets a clip
file or URL: the server plays the clip into the call.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import family_link, owned_case, owned_session, short_form
from vigremote.consent import policy
from vigremote.consent.access import current_purposes, recording_kind
from vigremote.errors import UserError
from vigremote.httpjson import error, read_json
from vigremote.live.events import ItemsRemoved
from vigremote.paths import case_dir
from vigremote.recording.recorder import Recorder
from vigremote.review.player import Item, Player
from vigremote.review.store import PlaylistItem
from vigremote.rooms import Participant, Room
from vigremote.state import (
    CLIPS,
    CONFIG,
    LIVE,
    RECORDINGS,
    REVIEWS,
    ROOMS,
    SIGNER,
    STORE,
    VAULT,
)
from vigremote.storage import NotFound

MAX_ITEMS = 30
REVIEW_USE = "review"
DELETED_NOTICE = "This clip was deleted, so it is no longer shown."


def _needs(app: web.Application, recording_id: str) -> frozenset[str]:
    """The purposes a clip or still of this recording needs to be shown in a review."""
    kind = recording_kind(app, app[RECORDINGS].get(recording_id))
    return policy.needed(kind, REVIEW_USE)


def _candidates(app: web.Application, case_id: str) -> list[dict[str, Any]]:
    clips = app[CLIPS]
    purposes = set(current_purposes(app, case_id))
    out: list[dict[str, Any]] = []
    for clip in clips.clips_of(case_id):
        ok = _needs(app, clip.recording_id) <= purposes
        out.append({"kind": "clip", "id": clip.id, "title": clip.title, "eligible": ok})
    for still in clips.stills_of(case_id):
        ok = _needs(app, still.recording_id) <= purposes
        title = still.caption or f"Still (frame {still.frame})"
        out.append({"kind": "still", "id": still.id, "title": title, "eligible": ok})
    return out


async def review_candidates(request: web.Request) -> web.Response:
    user = current_user(request)
    case = owned_case(request.app[STORE], user, request.match_info["case_id"])
    return web.json_response({"items": _candidates(request.app, case.id)})


async def create_review(request: web.Request) -> web.Response:
    """A shared-review session with its playlist, and the family's link to join it."""
    user = current_user(request)
    store = request.app[STORE]
    case = owned_case(store, user, request.match_info["case_id"])
    body = await read_json(request)
    wanted = body.get("items")
    if not isinstance(wanted, list) or not 0 < len(wanted) <= MAX_ITEMS:
        raise error(400, "bad-field", f"'items' must list 1 to {MAX_ITEMS} clips or stills")
    allowed = {(c["kind"], c["id"]): c for c in _candidates(request.app, case.id)}
    items: list[PlaylistItem] = []
    for entry in wanted:
        key = _item_key(entry)
        if key not in allowed:
            raise error(400, "not-in-case", "every item must be a clip or still of this case")
        if not allowed[key]["eligible"]:
            raise error(
                403, "no-consent", f"the family did not agree to review {allowed[key]['title']!r}"
            )
        items.append(PlaylistItem(key[0], key[1]))
    session = store.add_session(case.id, "review")
    request.app[REVIEWS].set_playlist(session.id, items)
    store.audit(user.id, "review-created", f"session:{session.id}", items=len(items))
    link = family_link(store, request.app[CONFIG], request.app[SIGNER], session)
    short = short_form(store, request.app[CONFIG], session)  # to read aloud or type
    return web.json_response(
        {"session": session.to_json(), "family_link": link} | short, status=201
    )


def _item_key(entry: object) -> tuple[str, str] | None:
    """("clip" | "still", id) from a request's item, or None if it is not shaped like one."""
    if not isinstance(entry, dict):
        return None
    kind, item_id = entry.get("kind"), entry.get("id")
    if not isinstance(kind, str) or not isinstance(item_id, str):
        return None
    return kind, item_id


async def get_playlist(request: web.Request) -> web.Response:
    user = current_user(request)
    _, session = owned_session(request.app[STORE], user, request.match_info["session_id"])
    items = [i.to_json() for i in request.app[REVIEWS].playlist(session.id)]
    return web.json_response({"items": items})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/cases/{case_id}/review-items", review_candidates)
    app.router.add_post("/api/cases/{case_id}/reviews", create_review)
    app.router.add_get("/api/sessions/{session_id}/playlist", get_playlist)


# -- the live side -----------------------------------------------------------------------


def _items(app: web.Application, room: Room) -> list[Item]:
    """The playlist as the player needs it; an item deleted since is left out."""
    folder = case_dir(app[CONFIG].data_dir, room.case_id)
    clips = app[CLIPS]
    items: list[Item] = []
    for entry in app[REVIEWS].playlist(room.session_id):
        try:
            if entry.kind == "clip":
                clip = clips.clip(entry.ref_id)
                path, title = folder / "clips" / clip.file_name, clip.title
                needs, first = _needs(app, clip.recording_id), clip.first_frame
            else:
                still = clips.still(entry.ref_id)
                path, title = folder / "stills" / still.file_name, still.caption
                title = title or f"Still (frame {still.frame})"
                needs, first = _needs(app, still.recording_id), 0
        except NotFound:
            continue
        items.append(Item(entry.kind, entry.ref_id, title, path, first, needs))
    return items


async def player_of(app: web.Application, room: Room) -> Player:
    """The review room's player, made (showing the first item) when someone first joins."""
    existing = room.system(Player.id)
    if isinstance(existing, Player):
        return existing
    player = Player(
        room,
        _items(app, room),
        room.broadcast,
        app[VAULT],
        app[CONFIG].video_codecs[0],
        current_purposes(app, room.case_id),
    )
    room.add_system(player)
    player.events.append(lambda action, detail: _note_event(app, room, action, detail))
    if player.items:
        await player.select(0)
    return player


async def drop_from_reviews(app: web.Application, case_id: str, gone: list[PlaylistItem]) -> None:
    """Deleted clips or stills leave every playlist, and every running review at once."""
    app[REVIEWS].remove_items(gone)
    keys = tuple(sorted((i.kind, i.ref_id) for i in gone))
    await app[LIVE].publish(ItemsRemoved(case_id, keys, DELETED_NOTICE))


async def on_items_removed(app: web.Application, event: ItemsRemoved) -> None:
    """Items deleted from the case leave the players of its rooms here."""
    for room in app[ROOMS].of_case(event.case_id):
        player = room.system(Player.id)
        if isinstance(player, Player):
            await player.remove(set(event.items), event.notice)


def _note_event(app: web.Application, room: Room, action: str, detail: dict[str, Any]) -> None:
    """Every playback event goes on the review recording's timeline; a pause is a chapter.
    What is put on screen for the family is a view of their material: audited."""
    if action == "select":
        app[STORE].audit(
            "player",
            f"{detail.get('kind')}-shown-in-review",
            f"{detail.get('kind')}:{detail.get('id')}",
            session=room.session_id,
            case=room.case_id,
        )
    recorder = room.system("recorder")
    if not isinstance(recorder, Recorder) or recorder.state not in ("recording", "paused"):
        return
    note = json.dumps({"action": action, **detail}, sort_keys=True)
    recorder.mark("review", note, "player")
    if action == "pause":
        recorder.mark("chapter", f"paused on frame {detail.get('frame')}", "player")


async def on_join(app: web.Application, room: Room, participant: Participant) -> None:
    if room.kind != "review":
        return
    player = await player_of(app, room)
    participant.outbox.send(player.status())


def _number(message: dict[str, Any], name: str) -> int:
    value = message.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UserError("bad-review", f"'{name}' must be a whole number")
    return value


async def handle_review(
    app: web.Application, room: Room, participant: Participant, message: dict[str, Any]
) -> None:
    """{"type": "review", "action": ...}: the practitioner drives; the family may ask to pause."""
    if room.kind != "review":
        raise UserError("not-a-review", "this session has no clips to play")
    player = await player_of(app, room)
    action = message.get("action")
    if participant.role == "family":
        if action != "request-pause":
            raise UserError("not-allowed", "only your practitioner controls the clips")
        await player.request_pause(participant.id)
        return
    if participant.role != "practitioner":
        raise UserError("not-allowed", "only the practitioner controls the clips")
    await drive(player, message)


async def drive(player: Player, message: dict[str, Any]) -> None:
    """Carry out a command on the player (the caller has checked who may give it)."""
    action = message.get("action")
    try:
        if action == "play":
            await player.play()
        elif action == "pause":
            await player.pause()
        elif action == "seek":
            await player.seek(_number(message, "frame"))
        elif action == "step":
            delta = _number(message, "delta")
            if delta not in (-1, 1):
                raise UserError("bad-review", "a step is one frame: delta -1 or 1")
            await player.step(delta)
        elif action == "speed":
            speed = message.get("speed")
            if not isinstance(speed, int | float) or isinstance(speed, bool):
                raise UserError("bad-review", "'speed' must be 0.25, 0.5 or 1")
            await player.set_speed(float(speed))
        elif action == "loop":
            on = message.get("on")
            if not isinstance(on, bool):
                raise UserError("bad-review", "'on' must be true or false")
            await player.set_loop(on)
        elif action == "select":
            await player.select(_number(message, "item"))
        elif action in ("accept-pause", "dismiss-pause"):
            await player.answer_pause_request(action == "accept-pause")
        else:
            raise UserError("bad-review", "unknown review action")
    except ValueError as exc:
        raise UserError("bad-review", str(exc)) from None
