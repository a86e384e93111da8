"""REST routes for what micro-analysis produces: clips, still frames, and the tag vocabulary.

Clips are cut from the recording's playback file at exact frames (see cutting.py); each keeps a
poster picture of its first frame. Only the practitioner who owns the case may see or change
them; only an admin may change the organisation's tags.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import owned_case
from vigremote.clips import cutting
from vigremote.clips.analysis_api import first_request_of_a_play, job, owned_recording, playback_of
from vigremote.clips.frames import cached_index, frame_cache_of, index_video
from vigremote.clips.store import Clip, Still
from vigremote.consent.access import require as require_consent
from vigremote.consent.access import uses_of
from vigremote.httpjson import error, read_json, text_field
from vigremote.paths import case_dir, recording_dir
from vigremote.recording.store import Recording
from vigremote.review.control import drop_from_reviews
from vigremote.review.store import PlaylistItem
from vigremote.state import CLIPS, CONFIG, RECORDINGS, STORE, VAULT
from vigremote.storage import new_id
from vigremote.vault.serve import sealed_response


def _int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(400, "bad-field", f"'{name}' must be a whole number (a frame index)")
    return value


def _tags(request: web.Request, value: object) -> list[str]:
    vocabulary = request.app[CLIPS].tags()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise error(400, "bad-field", "'tags' must be a list of tag names")
    unknown = [t for t in value if t not in vocabulary]
    if unknown:
        raise error(400, "unknown-tag", f"{unknown[0][:60]!r} is not in the tag list")
    return list(dict.fromkeys(value))


def _notes(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise error(400, "bad-field", f"'{name}' must be text of at most {limit} characters")
    return value.strip()


def _clips_folder(request: web.Request, case_id: str, kind: str) -> Path:
    folder = case_dir(request.app[CONFIG].data_dir, case_id) / kind
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


async def _cut(
    request: web.Request,
    recording: Recording,
    playback: Path,
    clip_file: Path,
    first: int,
    last: int,
) -> tuple[float, float]:
    """Cut the clip and its poster; returns (start_s, duration_s)."""

    vault = request.app[VAULT]

    def work() -> tuple[float, float]:
        index = cached_index(vault, playback)
        result = cutting.cut_clip(vault, playback, clip_file, first, last, index)
        # Index the clip without caching it: a cache file beside the clip would outlive it.
        poster = cutting.still_png(vault, clip_file, 0, index_video(vault, clip_file))
        vault.write_bytes(clip_file.with_suffix(".png"), poster)
        return index.seconds(first), result.duration_s

    try:
        return await job(request, recording.id, work)
    except cutting.CutError as exc:
        raise error(400, "bad-frames", str(exc)) from None


async def create_clip(request: web.Request) -> web.Response:
    recording, folder = owned_recording(request)
    body = await read_json(request)
    first, last = _int(body, "first"), _int(body, "last")
    title = text_field(body, "title", 120)
    tags = _tags(request, body.get("tags", []))
    notes = _notes(body, "notes", 2000)
    playback = await playback_of(request, recording, folder)
    clips = request.app[CLIPS]
    clip_id = new_id()
    vault = request.app[VAULT]
    codec = (await job(request, recording.id, lambda: cached_index(vault, playback))).codec
    clip_file = _clips_folder(request, recording.case_id, "clips") / (
        f"{clip_id}.{cutting.clip_extension(codec)}"
    )
    start_s, duration_s = await _cut(request, recording, playback, clip_file, first, last)
    clip = clips.add_clip(
        {
            "id": clip_id,
            "case_id": recording.case_id,
            "recording_id": recording.id,
            "title": title,
            "tags": tags,
            "notes": notes,
            "first_frame": first,
            "last_frame": last,
            "start_s": start_s,
            "duration_s": duration_s,
            "file_name": clip_file.name,
        }
    )
    request.app[STORE].audit(current_user(request).id, "clip-created", f"clip:{clip.id}")
    return web.json_response({"clip": clip.to_json()}, status=201)


def _owned_clip(request: web.Request, use: str | None = "analyse") -> tuple[Clip, Path]:
    """The clip in the URL, if the asker owns its case and (unless `use` is None, as for
    deleting it) the family's current consent covers this use of its recording."""
    user = current_user(request)
    clip = request.app[CLIPS].clip(request.match_info["clip_id"])
    owned_case(request.app[STORE], user, clip.case_id)
    if use is not None:
        recording = request.app[RECORDINGS].get(clip.recording_id)
        require_consent(request.app, user.id, recording, use)
    return clip, _clips_folder(request, clip.case_id, "clips") / clip.file_name


async def list_clips(request: web.Request) -> web.Response:
    user = current_user(request)
    case = owned_case(request.app[STORE], user, request.match_info["case_id"])
    clips = [c.to_json() for c in request.app[CLIPS].clips_of(case.id)]
    available = _analysable(request, [c["recording_id"] for c in clips])
    for clip in clips:
        # Listed either way (so it can be deleted), but no picture without consent.
        clip["available"] = available[clip["recording_id"]]
        clip["poster_url"] = f"/api/clips/{clip['id']}/poster.png" if clip["available"] else None
    return web.json_response({"clips": clips})


def _analysable(request: web.Request, recording_ids: list[str]) -> dict[str, bool]:
    """Which of these recordings the family's current consent lets the practitioner analyse."""
    recordings = request.app[RECORDINGS]
    return {
        rec_id: uses_of(request.app, recordings.get(rec_id))["allowed"]["analyse"]
        for rec_id in set(recording_ids)
    }


async def get_clip(request: web.Request) -> web.Response:
    clip, _ = _owned_clip(request)
    return web.json_response({"clip": clip.to_json()})


async def update_clip(request: web.Request) -> web.Response:
    """Rename, re-tag, re-note, move in the order, or re-trim (which cuts the file again)."""
    clip, clip_file = _owned_clip(request)
    body = await read_json(request)
    clips = request.app[CLIPS]
    # Check everything before changing anything: a bad field must leave the clip as it was.
    position = _int(body, "position") if "position" in body else None
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = text_field(body, "title", 120)
    if "tags" in body:
        changes["tags"] = _tags(request, body["tags"])
    if "notes" in body:
        changes["notes"] = _notes(body, "notes", 2000)
    if "first" in body or "last" in body:
        first = _int(body, "first") if "first" in body else clip.first_frame
        last = _int(body, "last") if "last" in body else clip.last_frame
        recording = request.app[RECORDINGS].get(clip.recording_id)
        folder = recording_dir(request.app[CONFIG].data_dir, recording.case_id, recording.id)
        playback = await playback_of(request, recording, folder)
        start_s, duration_s = await _cut(request, recording, playback, clip_file, first, last)
        changes |= {"first_frame": first, "last_frame": last}
        changes |= {"start_s": start_s, "duration_s": duration_s}
    clip = clips.update_clip(clip.id, **changes)
    if position is not None:
        clips.move_clip(clip.id, position)
        clip = clips.clip(clip.id)
    request.app[STORE].audit(current_user(request).id, "clip-changed", f"clip:{clip.id}")
    return web.json_response({"clip": clip.to_json()})


async def delete_clip(request: web.Request) -> web.Response:
    clip, clip_file = _owned_clip(request, use=None)
    request.app[CLIPS].delete_clip(clip.id)
    await drop_from_reviews(request.app, clip.case_id, [PlaylistItem("clip", clip.id)])
    await asyncio.to_thread(remove_clip_files, clip_file)
    request.app[STORE].audit(current_user(request).id, "clip-deleted", f"clip:{clip.id}")
    return web.json_response({"deleted": clip.id})


async def clip_poster(request: web.Request) -> web.StreamResponse:
    _, clip_file = _owned_clip(request)
    return await sealed_response(request, request.app[VAULT], clip_file.with_suffix(".png"))


async def clip_media(request: web.Request) -> web.StreamResponse:
    clip, clip_file = _owned_clip(request)
    if first_request_of_a_play(request):
        request.app[STORE].audit(current_user(request).id, "clip-viewed", f"clip:{clip.id}")
    return await sealed_response(
        request, request.app[VAULT], clip_file, {"Cache-Control": "private, no-store"}
    )


async def create_still(request: web.Request) -> web.Response:
    recording, folder = owned_recording(request)
    body = await read_json(request)
    frame = _int(body, "frame")
    caption = _notes(body, "caption", 300)
    playback = await playback_of(request, recording, folder)

    vault = request.app[VAULT]

    def work() -> tuple[bytes, float]:
        index = cached_index(vault, playback)
        return cutting.still_png(vault, playback, frame, index), index.seconds(frame)

    try:
        png, time_s = await job(request, recording.id, work)
    except cutting.CutError as exc:
        raise error(400, "bad-frames", str(exc)) from None
    still_id = new_id()
    path = _clips_folder(request, recording.case_id, "stills") / f"{still_id}.png"
    await asyncio.to_thread(vault.write_bytes, path, png)
    still = request.app[CLIPS].add_still(
        {
            "id": still_id,
            "case_id": recording.case_id,
            "recording_id": recording.id,
            "frame": frame,
            "time_s": time_s,
            "caption": caption,
            "file_name": path.name,
        }
    )
    request.app[STORE].audit(current_user(request).id, "still-created", f"still:{still.id}")
    return web.json_response({"still": still.to_json()}, status=201)


def _owned_still(request: web.Request, use: str | None = "analyse") -> tuple[Still, Path]:
    """The still in the URL, checked like a clip (see _owned_clip)."""
    user = current_user(request)
    still = request.app[CLIPS].still(request.match_info["still_id"])
    owned_case(request.app[STORE], user, still.case_id)
    if use is not None:
        recording = request.app[RECORDINGS].get(still.recording_id)
        require_consent(request.app, user.id, recording, use)
    return still, _clips_folder(request, still.case_id, "stills") / still.file_name


async def list_stills(request: web.Request) -> web.Response:
    user = current_user(request)
    case = owned_case(request.app[STORE], user, request.match_info["case_id"])
    stills = [s.to_json() for s in request.app[CLIPS].stills_of(case.id)]
    available = _analysable(request, [s["recording_id"] for s in stills])
    for still in stills:
        still["available"] = available[still["recording_id"]]
        still["image_url"] = f"/api/stills/{still['id']}/image.png" if still["available"] else None
    return web.json_response({"stills": stills})


async def still_image(request: web.Request) -> web.StreamResponse:
    still, path = _owned_still(request)
    request.app[STORE].audit(current_user(request).id, "still-viewed", f"still:{still.id}")
    return await sealed_response(request, request.app[VAULT], path)


async def delete_still(request: web.Request) -> web.Response:
    still, path = _owned_still(request, use=None)
    request.app[CLIPS].delete_still(still.id)
    await drop_from_reviews(request.app, still.case_id, [PlaylistItem("still", still.id)])
    await asyncio.to_thread(path.unlink, missing_ok=True)
    request.app[STORE].audit(current_user(request).id, "still-deleted", f"still:{still.id}")
    return web.json_response({"deleted": still.id})


async def get_tags(request: web.Request) -> web.Response:
    current_user(request)
    return web.json_response({"tags": request.app[CLIPS].tags()})


async def put_tags(request: web.Request) -> web.Response:
    user = current_user(request)
    if user.role != "admin":
        raise error(403, "forbidden", "only an admin can change the tag list")
    body = await read_json(request)
    names = body.get("tags")
    if (
        not isinstance(names, list)
        or not names
        or len(names) > 50
        or not all(isinstance(n, str) and 0 < len(n.strip()) <= 60 for n in names)
    ):
        raise error(400, "bad-field", "'tags' must be a list of 1 to 50 names (60 characters each)")
    tags = request.app[CLIPS].set_tags(list(dict.fromkeys(n.strip() for n in names)))
    request.app[STORE].audit(user.id, "tags-changed", "tags", tags=tags)
    return web.json_response({"tags": tags})


def remove_clip_files(clip_file: Path) -> None:
    """A clip's file, its poster and its frame-index cache (blocking: call in a thread)."""
    for path in (clip_file, clip_file.with_suffix(".png"), frame_cache_of(clip_file)):
        path.unlink(missing_ok=True)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/recordings/{recording_id}/clips", create_clip)
    app.router.add_post("/api/recordings/{recording_id}/stills", create_still)
    app.router.add_get("/api/cases/{case_id}/clips", list_clips)
    app.router.add_get("/api/cases/{case_id}/stills", list_stills)
    app.router.add_get("/api/clips/{clip_id}", get_clip)
    app.router.add_patch("/api/clips/{clip_id}", update_clip)
    app.router.add_delete("/api/clips/{clip_id}", delete_clip)
    app.router.add_get("/api/clips/{clip_id}/poster.png", clip_poster)
    app.router.add_get("/api/clips/{clip_id}/media", clip_media)
    app.router.add_get("/api/stills/{still_id}/image.png", still_image)
    app.router.add_delete("/api/stills/{still_id}", delete_still)
    app.router.add_get("/api/tags", get_tags)
    app.router.add_put("/api/tags", put_tags)
