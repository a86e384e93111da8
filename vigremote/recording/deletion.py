"""Deleting a recording with everything made from it: clips, stills, caches, playlist entries.

The practitioner who owns the case may delete a recording at any time, whatever the consent
(deleting never shows anything). Files go first, then the records, so a crash half way leaves
records whose files are gone (shown as "nothing on disk") rather than bytes nobody can find.
A running review drops a deleted clip at once; a recording still being made is refused.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import owned_case
from vigremote.clips.clips_api import remove_clip_files
from vigremote.httpjson import error
from vigremote.paths import case_dir, recording_dir
from vigremote.recording.store import LIVE_STATUSES, Recording
from vigremote.review.control import drop_from_reviews
from vigremote.review.store import PlaylistItem
from vigremote.state import CLIPS, CONFIG, LIVE, MEDIA_LOCKS, RECORDINGS, STORE


async def being_recorded(app: web.Application, recording: Recording) -> bool:
    """Being recorded now, by the room of its session on whichever process has it."""
    if recording.status not in LIVE_STATUSES:
        return False
    return await app[LIVE].owner(recording.session_id) is not None


async def delete_recording(request: web.Request) -> web.Response:
    user = current_user(request)
    app = request.app
    recording = app[RECORDINGS].get(request.match_info["recording_id"])
    owned_case(app[STORE], user, recording.case_id)
    if await being_recorded(app, recording):
        raise error(409, "still-recording", "stop the recording before deleting it")
    clips, stills = await remove_recording(app, recording, user.id, "recording-deleted")
    return web.json_response({"deleted": recording.id, "clips": clips, "stills": stills})


async def remove_recording(
    app: web.Application, recording: Recording, actor: str, action: str, **why: Any
) -> tuple[int, int]:
    """Remove a recording's files and records, and its clips and stills with theirs; audited
    as `action` by `actor`. Returns how many clips and stills went with it."""
    clip_store = app[CLIPS]
    clips = [c for c in clip_store.clips_of(recording.case_id) if c.recording_id == recording.id]
    stills = [s for s in clip_store.stills_of(recording.case_id) if s.recording_id == recording.id]
    data_dir = app[CONFIG].data_dir
    folder = recording_dir(data_dir, recording.case_id, recording.id)
    case_folder = case_dir(data_dir, recording.case_id)
    gone = [PlaylistItem("clip", c.id) for c in clips]
    gone += [PlaylistItem("still", s.id) for s in stills]
    await drop_from_reviews(app, recording.case_id, gone)

    def remove_files() -> None:
        for clip in clips:
            remove_clip_files(case_folder / "clips" / clip.file_name)
        for still in stills:
            (case_folder / "stills" / still.file_name).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    # Under the recording's media lock: no remux or cut is writing into the folder meanwhile.
    lock = app[MEDIA_LOCKS].setdefault(recording.id, asyncio.Lock())
    async with lock:
        await asyncio.to_thread(remove_files)
    for clip in clips:
        clip_store.delete_clip(clip.id)
    for still in stills:
        clip_store.delete_still(still.id)
    app[RECORDINGS].delete(recording.id)
    app[STORE].audit(
        actor,
        action,
        f"recording:{recording.id}",
        case=recording.case_id,
        clips=len(clips),
        stills=len(stills),
        **why,
    )
    app[MEDIA_LOCKS].pop(recording.id, None)
    return len(clips), len(stills)


def add_routes(app: web.Application) -> None:
    app.router.add_delete("/api/recordings/{recording_id}", delete_recording)
