"""Replaying a recorded review: both cameras and the playback events on one timeline.

A review recording holds the family's and the practitioner's cameras (one file each, on the
recording's timeline) and, as marks, every playback event (which clip, play, pause, seek,
speed) and a chapter at every pause. The replay page rebuilds what was on screen at any moment
from these events and the clips' own files.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.clips.analysis_api import first_request_of_a_play, owned_recording
from vigremote.clips.frames import cached_index
from vigremote.httpjson import error
from vigremote.paths import case_dir, recording_dir
from vigremote.recording.store import Recording
from vigremote.review.recorded import RecordedReview
from vigremote.state import CLIPS, CONFIG, RECORDINGS, STORE, VAULT
from vigremote.storage import NotFound
from vigremote.vault.serve import sealed_response


def _publisher(file_name: str) -> str:
    prefix = file_name.split("-", 1)[0]
    return "family" if prefix == "segment" else prefix


def playback_events(app: web.Application, recording_id: str) -> list[dict[str, Any]]:
    """The review player's recorded events (t_s on the recording's clock, then what it did)."""
    events: list[dict[str, Any]] = []
    for mark in app[RECORDINGS].marks(recording_id, "review"):
        try:
            detail = json.loads(mark["note"])
        except ValueError:
            continue
        events.append({"t_s": mark["t_s"], **detail})
    return events


def recorded_review(app: web.Application, recording: Recording) -> RecordedReview:
    """A recorded review as a player plays it: its cameras' files, the events, and the clips
    and stills it showed that still exist."""
    folder = recording_dir(app[CONFIG].data_dir, recording.case_id, recording.id)
    cameras = tuple(
        (_publisher(name), folder / name) for name in app[RECORDINGS].segments(recording.id)
    )
    events = playback_events(app, recording.id)
    case_folder = case_dir(app[CONFIG].data_dir, recording.case_id)
    pictures: dict[str, tuple[str, Any]] = {}
    for event in events:
        if event.get("action") != "select" or str(event.get("id")) in pictures:
            continue
        try:
            if event.get("kind") == "clip":
                clip = app[CLIPS].clip(str(event["id"]))
                pictures[clip.id] = ("clip", case_folder / "clips" / clip.file_name)
            elif event.get("kind") == "still":
                still = app[CLIPS].still(str(event["id"]))
                pictures[still.id] = ("still", case_folder / "stills" / still.file_name)
        except NotFound:
            continue  # deleted since: nothing is shown in its place
    return RecordedReview(cameras, tuple(events), pictures)


async def timeline(request: web.Request) -> web.Response:
    recording, _ = owned_recording(request, "replay")
    store, clips = request.app[RECORDINGS], request.app[CLIPS]
    cameras = [
        {
            "publisher": _publisher(name),
            "media_url": f"/api/recordings/{recording.id}/segments/{seq}/media",
        }
        for seq, name in enumerate(store.segments(recording.id), start=1)
    ]
    events = playback_events(request.app, recording.id)
    chapters = store.marks(recording.id, "chapter")
    folder = case_dir(request.app[CONFIG].data_dir, recording.case_id) / "clips"
    shown: dict[str, Any] = {}
    for event in events:
        if event.get("action") == "select" and event.get("kind") == "clip":
            clip_id = str(event["id"])
            if clip_id in shown:
                continue
            clip = clips.clip(clip_id)
            index = await asyncio.to_thread(
                cached_index, request.app[VAULT], folder / clip.file_name
            )
            shown[clip_id] = {
                "title": clip.title,
                "media_url": f"/api/clips/{clip.id}/media",
                "times_ms": index.to_json()["times_ms"],
            }
    return web.json_response(
        {
            "recording": recording.to_json(),
            "cameras": cameras,
            "events": events,
            "chapters": chapters,
            "clips": shown,
        }
    )


async def segment_media(request: web.Request) -> web.StreamResponse:
    recording, folder = owned_recording(request, "replay")
    names = request.app[RECORDINGS].segments(recording.id)
    try:
        seq = int(request.match_info["seq"])
        name = names[seq - 1] if seq >= 1 else None
    except (ValueError, IndexError):
        name = None
    if name is None or not (folder / name).exists():
        raise error(404, "not-found", "no such part of this recording")
    if first_request_of_a_play(request):
        user = current_user(request)
        request.app[STORE].audit(user.id, "review-recording-served", f"recording:{recording.id}")
    return await sealed_response(
        request, request.app[VAULT], folder / name, {"Cache-Control": "private, no-store"}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/recordings/{recording_id}/timeline", timeline)
    app.router.add_get("/api/recordings/{recording_id}/segments/{seq}/media", segment_media)
