"""Preparing and driving a shared review: REST to build the playlist, signalling to play it.

Only clips and stills whose recording's consent covers "shared review with the family" (and
whose family has not since withdrawn it) can be put in a review. The family never gets a clip
file or URL: the server plays the clip into the call.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import family_link, owned_case, owned_session
from vigremote.consent.store import ConsentStore
from vigremote.errors import UserError
from vigremote.httpjson import error, read_json
from vigremote.paths import case_dir
from vigremote.recording.recorder import Recorder
from vigremote.recording.store import RecordingStore
from vigremote.review.player import Item, Player
from vigremote.review.store import PlaylistItem
from vigremote.rooms import Participant, Room
from vigremote.state import CLIPS, CONFIG, CONSENTS, RECORDINGS, REVIEWS, SIGNER, STORE

SHARED_REVIEW = "shared_review"
MAX_ITEMS = 30


def shareable(recordings: RecordingStore, consents: ConsentStore, recording_id: str) -> bool:
    """The family agreed to shared review when recording, and has not withdrawn it since."""
    recording = recordings.get(recording_id)
    current = consents.current(recording.session_id)
    return (
        SHARED_REVIEW in recording.purposes
        and current is not None
        and current.allows(SHARED_REVIEW)
    )


def _candidates(app: web.Application, case_id: str) -> list[dict[str, Any]]:
    recordings, consents, clips = app[RECORDINGS], app[CONSENTS], app[CLIPS]
    out: list[dict[str, Any]] = []
    for clip in clips.clips_of(case_id):
        ok = shareable(recordings, consents, clip.recording_id)
        out.append({"kind": "clip", "id": clip.id, "title": clip.title, "eligible": ok})
    for still in clips.stills_of(case_id):
        ok = shareable(recordings, consents, still.recording_id)
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
        key = (entry.get("kind"), entry.get("id")) if isinstance(entry, dict) else None
        if key not in allowed:
            raise error(400, "not-in-case", "every item must be a clip or still of this case")
        if not allowed[key]["eligible"]:
            raise error(
                403, "no-consent", f"the family did not agree to review {allowed[key]['title']!r}"
            )
        items.append(PlaylistItem(str(key[0]), str(key[1])))
    session = store.add_session(case.id, "review")
    request.app[REVIEWS].set_playlist(session.id, items)
    store.audit(user.id, "review-created", f"session:{session.id}", items=len(items))
    link = family_link(request.app[CONFIG], request.app[SIGNER], session)
    return web.json_response({"session": session.to_json(), "family_link": link}, status=201)


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
    folder = case_dir(app[CONFIG].data_dir, room.case_id)
    clips = app[CLIPS]
    items: list[Item] = []
    for entry in app[REVIEWS].playlist(room.session_id):
        if entry.kind == "clip":
            clip = clips.clip(entry.ref_id)
            items.append(
                Item(
                    "clip", clip.id, clip.title, folder / "clips" / clip.file_name, clip.first_frame
                )
            )
        else:
            still = clips.still(entry.ref_id)
            title = still.caption or f"Still (frame {still.frame})"
            items.append(Item("still", still.id, title, folder / "stills" / still.file_name))
    return items


async def player_of(app: web.Application, room: Room) -> Player:
    """The review room's player, made (showing the first item) when someone first joins."""
    existing = room.system(Player.id)
    if isinstance(existing, Player):
        return existing
    player = Player(room, _items(app, room), room.broadcast, app[CONFIG].video_codecs[0])
    room.add_system(player)
    player.events.append(lambda action, detail: _note_event(app, room, action, detail))
    if player.items:
        await player.select(0)
    return player


def _note_event(app: web.Application, room: Room, action: str, detail: dict[str, Any]) -> None:
    """Every playback event goes on the review recording's timeline; a pause is a chapter."""
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
            await player.set_speed(float(message.get("speed", 0)))
        elif action == "loop":
            await player.set_loop(bool(message.get("on")))
        elif action == "select":
            await player.select(_number(message, "item"))
        elif action in ("accept-pause", "dismiss-pause"):
            await player.answer_pause_request(action == "accept-pause")
        else:
            raise UserError("bad-review", "unknown review action")
    except ValueError as exc:
        raise UserError("bad-review", str(exc)) from None
