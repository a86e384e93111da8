"""Driving and listing recordings: signalling messages, the join hook, REST, start-up recovery."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import av
from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import owned_case
from vigremote.consent.access import uses_of
from vigremote.consent.policy import recorded_for
from vigremote.errors import UserError
from vigremote.paths import recording_dir
from vigremote.recording.recorder import RECORDER_ID, Recorder
from vigremote.recording.store import LIVE_STATUSES, Recording, RecordingStore
from vigremote.rooms import Participant, Room
from vigremote.state import CONFIG, CONSENTS, LIVE, RECORDINGS, STORE, VAULT
from vigremote.vault.files import Vault
from vigremote.vault.sealed import Tampered

log = logging.getLogger(__name__)
MAX_NOTE = 200
# Whose cameras each kind of session records: a filming session, the family's; a shared
# review, both (the purpose each is recorded for is in consent/policy.py).
RECORDED_PUBLISHERS = {"filming": ("family",), "review": ("family", "practitioner")}


def recorder_of(app: web.Application, room: Room) -> Recorder:
    """The room's recorder, added as a system participant the first time it is needed."""
    existing = room.system(RECORDER_ID)
    if isinstance(existing, Recorder):
        return existing
    recorder = Recorder(
        room,
        app[RECORDINGS],
        app[CONFIG].data_dir,
        app[VAULT],
        room.recording_changed,
        RECORDED_PUBLISHERS[room.kind],
        recorded_for(room.kind),
    )
    room.add_system(recorder)
    return recorder


async def handle_record(
    app: web.Application, room: Room, participant: Participant, message: dict[str, Any]
) -> None:
    """{"type": "record", "action": "start" | "pause" | "resume" | "stop"}."""
    action = message.get("action")
    role = participant.role
    if room.kind == "supervision":
        raise UserError("not-allowed", "supervision calls are not recorded")
    recorder = recorder_of(app, room)
    if action == "start":
        if role != "practitioner":
            raise UserError("not-allowed", "only the session's practitioner can record")
        consents = app[CONSENTS]
        consent = consents.current(room.case_id)
        if consent is None or not consent.allows(recorder.required_purpose):
            raise UserError("no-consent", "the family has not agreed to recording")
        if not consents.confirmed_in(room.session_id):
            raise UserError(
                "no-consent", "the family has not confirmed their choices in this call yet"
            )
        if recorder.state in ("recording", "paused"):
            raise UserError("already-recording", "a recording is already running")
        if not room.feed("family", "video").live:
            raise UserError("no-family-video", "the family's camera is not connected yet")
        recording = await recorder.start(consent, participant.id)
        app[STORE].audit(participant.id, "recording-started", f"recording:{recording.id}")
    elif action == "pause":
        if role not in ("practitioner", "family"):
            raise UserError("not-allowed", "you cannot pause this recording")
        await recorder.pause(role)
    elif action == "resume":
        if role not in ("practitioner", "family"):
            raise UserError("not-allowed", "you cannot resume this recording")
        if role == "practitioner" and recorder.paused_by == "family":
            raise UserError(
                "paused-by-family", "the family paused the recording: only they can resume it"
            )
        await recorder.resume(role)
    elif action == "stop":
        if role != "practitioner":
            raise UserError("not-allowed", "only the session's practitioner can stop recording")
        stopped = recorder.recording
        await recorder.stop()
        if stopped is not None:
            app[STORE].audit(participant.id, "recording-stopped", f"recording:{stopped.id}")
    else:
        raise UserError("bad-record", "action must be start, pause, resume or stop")


async def handle_bookmark(
    app: web.Application, room: Room, participant: Participant, message: dict[str, Any]
) -> None:
    """{"type": "bookmark", "note"?}: mark this moment on the recording's timeline."""
    if participant.role != "practitioner":
        raise UserError("not-allowed", "only the practitioner can add bookmarks")
    note = message.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise UserError("bad-bookmark", f"a note is text of at most {MAX_NOTE} characters")
    recorder = recorder_of(app, room)
    try:
        t_s = await recorder.bookmark(note.strip(), participant.id)
    except RuntimeError:
        raise UserError("not-recording", "bookmarks need a running recording") from None
    participant.outbox.send({"type": "bookmarked", "t_s": round(t_s, 3), "note": note.strip()})


async def on_join(app: web.Application, room: Room, participant: Participant) -> None:
    """Always tell a newcomer the recording state, idle included: a page that reconnects after a
    server restart (a new room, no recorder) must replace what it showed before, not keep it."""
    recorder = room.system(RECORDER_ID)
    if isinstance(recorder, Recorder):
        participant.outbox.send(recorder.status())
        return
    participant.outbox.send(
        {
            "type": "recording",
            "state": "idle",
            "paused_by": None,
            "recording_id": None,
            "elapsed_s": 0,
            "message": None,
        }
    )


async def carry_on(app: web.Application, room: Room) -> Recorder | None:
    """The room has just opened here: if a process that died was recording its session (its
    room moved here when its lease lapsed), this process's recorder carries that recording on.
    With several processes (Redis), one that started meanwhile may have marked it interrupted:
    that is carried on too, as long as the session is open. (Otherwise the recorder is made
    when the practitioner first presses Record: until then the roster does not list it.)"""
    store = app[RECORDINGS]
    adoptable = LIVE_STATUSES + (("interrupted",) if app[CONFIG].redis_url else ())
    found = [r for r in store.of_session(room.session_id) if r.status in adoptable]
    if not found:
        return None
    recording = found[-1]
    consent = app[CONSENTS].current(room.case_id)
    if consent is None or not consent.allows(recorded_for(room.kind)):
        return None  # consent was withdrawn meanwhile: left as it is (interrupted at start-up)
    recorder = recorder_of(app, room)
    if recorder.recording is not None:
        return recorder  # another join is carrying it on
    recorder.recording = recording
    _, on_disk_s = await finish_on_disk(app, recording)
    await recorder.adopt(recording, on_disk_s)
    log.warning("recording %s carried on here (%.1f s were on disk)", recording.id, on_disk_s)
    return recorder


def recording_json(store: RecordingStore, recording: Any) -> dict[str, Any]:
    out: dict[str, Any] = recording.to_json()
    out["bookmarks"] = store.marks(recording.id, "bookmark")
    out["segments"] = len(store.segments(recording.id))
    return out


async def list_recordings(request: web.Request) -> web.Response:
    user = current_user(request)
    case = owned_case(request.app[STORE], user, request.match_info["case_id"])
    store = request.app[RECORDINGS]
    recordings = []
    for recording in store.of_case(case.id):
        # What the family's consent allows *now* (pages offer Analyse or Replay only then).
        recordings.append(recording_json(store, recording) | uses_of(request.app, recording))
    return web.json_response({"recordings": recordings})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/cases/{case_id}/recordings", list_recordings)


def probe_duration(vault: Vault, paths: list[Path]) -> float:
    """Seconds of video on disk, read from packet timestamps (no decoding)."""
    total = 0.0
    for path in paths:
        try:
            with (
                vault.open(path, allow_unfinished=True) as sealed,
                av.open(sealed, "r") as container,
            ):
                last = 0.0
                for packet in container.demux():
                    if packet.pts is not None and packet.time_base is not None:
                        last = max(last, float(packet.pts * packet.time_base))
                total = max(total, last)
        except (av.FFmpegError, OSError, Tampered) as exc:
            log.warning("could not read %s: %s", path, exc)
    return total


def finish_segments(vault: Vault, paths: list[Path]) -> None:
    """Segments a crash left open: mark their end, so they read as whole files again."""
    for path in paths:
        try:
            vault.finish_unfinished(path)
        except (OSError, Tampered) as exc:
            log.error("recording segment %s could not be finished: %s", path, exc)


async def finish_on_disk(app: web.Application, recording: Recording) -> tuple[list[Path], float]:
    """The files a crash left of `recording`, marked whole again, and the seconds they hold
    (in threads: sealed files are read and written)."""
    folder = recording_dir(app[CONFIG].data_dir, recording.case_id, recording.id)
    files = [folder / name for name in app[RECORDINGS].segments(recording.id)]
    files = [f for f in files if f.exists()]
    await asyncio.to_thread(finish_segments, app[VAULT], files)
    return files, await asyncio.to_thread(probe_duration, app[VAULT], files)


async def recover_interrupted(app: web.Application) -> None:
    """At start-up, recordings a crash left 'recording' become 'interrupted' and stay usable;
    not those another live process is recording (nor any, while Redis cannot say which)."""
    store = app[RECORDINGS]
    keep: set[str] = set()
    for recording in store.in_progress():
        try:
            if await app[LIVE].owner(recording.session_id) is not None:
                keep.add(recording.id)
        except Exception as exc:  # Redis away at start-up: decide at the next start
            log.warning("left %s as it is: the live state did not answer (%s)", recording.id, exc)
            keep.add(recording.id)
    for recording_id in store.mark_interrupted(keep=keep):
        recording = store.get(recording_id)
        files, duration = await finish_on_disk(app, recording)
        store.set_progress(recording.id, duration, sum(f.stat().st_size for f in files))
        log.warning("recording %s was interrupted; %.1f s kept", recording.id, duration)
