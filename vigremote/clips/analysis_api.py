"""REST routes that open a recording for micro-analysis: playback, frames, thumbnails, sound.

Every route checks that the asker is the practitioner who owns the case; every file path is
built from server ids. Work that decodes or writes media runs in a thread, one job at a time
per recording, so the event loop (and live calls) never wait on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import owned_case
from vigremote.clips import media
from vigremote.clips.frames import cached_index
from vigremote.consent.access import require as require_consent
from vigremote.consent.access import uses_of
from vigremote.httpjson import error
from vigremote.paths import recording_dir
from vigremote.recording.control import recording_json
from vigremote.recording.store import Recording
from vigremote.state import CONFIG, MEDIA_LOCKS, RECORDINGS, STORE, VAULT
from vigremote.vault.serve import sealed_response

T = TypeVar("T")


async def job(request: web.Request, key: str, work: Callable[[], T]) -> T:
    """Run blocking media work in a thread, one job at a time per recording."""
    locks = request.app[MEDIA_LOCKS]
    lock = locks.setdefault(key, asyncio.Lock())
    async with lock:
        return await asyncio.to_thread(work)


def owned_recording(request: web.Request, use: str = "analyse") -> tuple[Recording, Path]:
    """The recording named in the URL, if the asker owns its case and the family's current
    consent covers this use of it (see consent/policy.py); and its folder."""
    user = current_user(request)
    recording = request.app[RECORDINGS].get(request.match_info["recording_id"])
    owned_case(request.app[STORE], user, recording.case_id)
    require_consent(request.app, user.id, recording, use)
    folder = recording_dir(request.app[CONFIG].data_dir, recording.case_id, recording.id)
    return recording, folder


async def playback_of(request: web.Request, recording: Recording, folder: Path) -> Path:
    names = request.app[RECORDINGS].segments(recording.id)
    sources = [folder / n for n in names if (folder / n).exists()]
    if not sources:
        raise error(409, "no-media", "nothing of this recording is on disk yet")
    # A browser seeking sends range requests one after another: when the copy is up to date
    # they must not queue behind a long job (thumbnails) holding the recording's lock.
    vault = request.app[VAULT]
    ready = await asyncio.to_thread(media.fresh_playback, vault, sources, folder)
    if ready is not None:
        return ready
    return await job(request, recording.id, lambda: media.playback_file(vault, sources, folder))


async def open_recording(request: web.Request) -> web.Response:
    recording, folder = owned_recording(request)
    playback = await playback_of(request, recording, folder)
    index = await job(request, recording.id, lambda: cached_index(request.app[VAULT], playback))
    user = current_user(request)
    request.app[STORE].audit(user.id, "recording-opened", f"recording:{recording.id}")
    body = recording_json(request.app[RECORDINGS], recording)
    body["marks"] = request.app[RECORDINGS].marks(recording.id)
    body["frames"] = index.to_json()
    body["media_url"] = f"/api/recordings/{recording.id}/media"
    body["consent"] = uses_of(request.app, recording)
    return web.json_response(body)


async def recording_media(request: web.Request) -> web.StreamResponse:
    recording, folder = owned_recording(request)
    playback = await playback_of(request, recording, folder)
    if first_request_of_a_play(request):
        user = current_user(request)
        request.app[STORE].audit(user.id, "recording-media-served", f"recording:{recording.id}")
    return await sealed_response(
        request, request.app[VAULT], playback, {"Cache-Control": "private, no-store"}
    )


def first_request_of_a_play(request: web.Request) -> bool:
    """A player's first request (no range, or from byte 0): audited once, not every seek."""
    asked = request.headers.get("Range", "")
    return not asked or asked.replace(" ", "").startswith("bytes=0-")


async def recording_thumbnails(request: web.Request) -> web.Response:
    recording, folder = owned_recording(request)
    playback = await playback_of(request, recording, folder)
    vault = request.app[VAULT]
    info = await job(request, recording.id, lambda: media.thumbnails(vault, playback, folder))
    info["sprite_url"] = f"/api/recordings/{recording.id}/thumbnails.jpg"
    return web.json_response(info)


async def recording_sprite(request: web.Request) -> web.StreamResponse:
    recording, folder = owned_recording(request)
    playback = await playback_of(request, recording, folder)
    vault = request.app[VAULT]
    await job(request, recording.id, lambda: media.thumbnails(vault, playback, folder))
    return await sealed_response(request, vault, folder / "thumbnails.jpg")


async def recording_audio(request: web.Request) -> web.Response:
    recording, folder = owned_recording(request)
    playback = await playback_of(request, recording, folder)
    return web.json_response(
        await job(
            request,
            recording.id,
            lambda: media.audio_activity(request.app[VAULT], playback, folder),
        )
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/recordings/{recording_id}", open_recording)
    app.router.add_get("/api/recordings/{recording_id}/media", recording_media)
    app.router.add_get("/api/recordings/{recording_id}/thumbnails", recording_thumbnails)
    app.router.add_get("/api/recordings/{recording_id}/thumbnails.jpg", recording_sprite)
    app.router.add_get("/api/recordings/{recording_id}/audio-activity", recording_audio)
