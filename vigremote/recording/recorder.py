"""The recorder: a system participant of the room that records people's camera feeds.

In a filming session it records the family; in a shared review, the family and the
practitioner, each to their own file on one timeline. It taps the feeds (encoded frames, as
the browser sent them) and places each frame on the recording's timeline: wall-clock time since
the start, minus paused time. A drop of a connection therefore leaves a gap in the timeline (and
a "gap" mark), and the recording carries on in the same file when they are back. It asks the
browsers for a keyframe every two seconds so any moment can be reached by decoding that much.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from vigremote.consent.store import Consent
from vigremote.media.passthrough import EncodedFrame
from vigremote.messages import Participant, RecordingState, RecordingStatus
from vigremote.paths import recording_dir
from vigremote.recording.store import Recording, RecordingStore
from vigremote.recording.timeline import Track
from vigremote.recording.writer import SegmentWriter, StoreWrites, TimedFrame, is_locked
from vigremote.rooms import Room
from vigremote.vault.files import Vault

log = logging.getLogger(__name__)

KEYFRAME_INTERVAL_S = 2.0
# The stored duration and size are for listings (a crash's recovery measures the files): every
# 10 s, not every tick. Worker processes share one SQLite file, whose writes take turns, each
# with an fsync; 200 recordings writing every 2 s kept it busy enough to starve others.
PROGRESS_EVERY_TICKS = 5
GAP_THRESHOLD_MS = 1000
RECORDER_ID = "recorder"
_EXTENSIONS = {"VP8": "webm", "H264": "mkv"}
_SEGMENT_NUMBER = re.compile(r"-(\d{3,})\.")  # family-003.webm, segment-012.mkv


def describe_error(exc: BaseException) -> str:
    """A message for the practitioner: what happened, and that the call goes on."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return "Recording stopped: the server's disk is full. The call continues."
    return "Recording stopped: the server could not write it. The call continues."


class _Tap:
    """A FrameSink that tells the recorder which publisher's feed a frame came from."""

    def __init__(self, recorder: Recorder, track: Track) -> None:
        self.recorder, self.track = recorder, track

    def push(self, generation: int, frame: EncodedFrame) -> None:
        self.recorder.push(self.track, generation, frame)


class Recorder:
    """Records one session's camera feeds; at most one recording at a time per room."""

    id = RECORDER_ID
    role = "recorder"
    name = "Recorder"

    def __init__(
        self,
        room: Room,
        store: RecordingStore,
        data_dir: Path,
        vault: Vault,
        announce: Callable[[RecordingStatus], Awaitable[None]],
        publishers: tuple[str, ...] = ("family",),
        required_purpose: str = "analysis",
    ) -> None:
        self.room = room
        self.store = store
        self.data_dir = data_dir
        self.vault = vault
        self._announce = announce
        self.publishers = publishers
        self.required_purpose = required_purpose
        self.state: RecordingState = "idle"
        self.paused_by: str | None = None
        self.recording: Recording | None = None
        self.message: str | None = None
        self._tracks: list[Track] = []
        self._taps: list[tuple[Any, _Tap]] = []
        self._segments = 0
        self._t0 = 0.0
        self._paused_total = 0.0
        self._paused_since: float | None = None
        self._frozen_at: float | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._writes = StoreWrites()
        self._background: set[asyncio.Future[Any]] = set()

    # -- room membership ----------------------------------------------------------------
    def describe(self) -> Participant:
        return {"id": self.id, "role": self.role, "name": self.name, "media": self.state}

    def on_roster(self, roster: list[Participant]) -> None:
        """A recorded person leaving the call (or dropping) and coming back: the recording
        says so."""
        if self.recording is None or self.state not in ("recording", "paused"):
            return
        present = {p["id"] for p in roster}
        for track in self._tracks:
            here, t_ms = track.publisher in present, self.elapsed_ms()
            if not here and track.left_at_ms is None:
                track.left_at_ms, track.return_marked, what = t_ms, False, "left the call"
                kind = "gap-start"
            elif here and track.left_at_ms is not None:
                track.left_at_ms, track.return_marked, what = None, True, "is back in the call"
                kind = "gap-end"
            else:
                continue
            note = f"{track.publisher} {what}"
            self._writes.submit(
                self.store.add_mark, self.recording.id, t_ms / 1000, kind, note, "server"
            )

    def on_recording(self, status: RecordingStatus) -> None:
        return None  # its own

    async def on_consent(self, purposes: tuple[str, ...]) -> None:
        """Withdrawn consent stops the recording at once."""
        if self.state in ("recording", "paused") and self.required_purpose not in purposes:
            await self.stop(reason="the family withdrew consent")

    async def close(self) -> None:
        if self.state in ("recording", "paused"):
            await self.stop(reason="everyone left the session")
        await self._finish_background()

    def status(self) -> RecordingStatus:
        """What the pages show: state, running time and which recording."""
        return {
            "type": "recording",
            "state": self.state,
            "paused_by": self.paused_by,
            "recording_id": self.recording.id if self.recording else None,
            "elapsed_s": round(self.elapsed_ms() / 1000, 3) if self.recording else 0,
            "message": self.message,
        }

    # -- commands -------------------------------------------------------------------------
    async def start(self, consent: Consent, by: str) -> Recording:
        recording = self.store.add(
            self.room.case_id, self.room.session_id, consent.id, consent.purposes
        )
        recording_dir(self.data_dir, recording.case_id, recording.id)
        self.recording = recording
        self.state, self.paused_by, self.message = "recording", None, None
        self._t0 = time.monotonic()
        self._paused_total, self._paused_since, self._frozen_at = 0.0, None, None
        self._segments = 0
        self._attach()
        await self._announce(self.status())
        return recording

    async def adopt(self, recording: Recording, on_disk_s: float) -> None:
        """Carry on a recording a process that died was making (its room moved here): the
        same recording on the same timeline (wall-clock time since it started, less its
        pauses), in new files after its own, the time nobody recorded marked as a gap."""
        self.recording = recording
        status: RecordingState = "paused" if recording.status == "paused" else "recording"
        self.state, self.paused_by, self.message = status, None, None
        paused_s, paused_since = self.store.pauses(recording.id)
        wall, mono = time.time(), time.monotonic()
        self._t0 = mono - (wall - recording.started_at)
        self._paused_total, self._frozen_at = paused_s, None
        self._paused_since = None if paused_since is None else mono - (wall - paused_since)
        if status == "paused":
            self.paused_by = "practitioner"
        self._segments = self._segments_so_far(recording)
        self.store.reopen(recording.id, status)
        now_s = self.elapsed_ms() / 1000
        if now_s > on_disk_s:
            note = "the server's process stopped; recording carried on by another"
            self.store.add_mark(recording.id, on_disk_s, "gap-start", note, "server")
            self.store.add_mark(recording.id, now_s, "gap-end", note, "server")
        self._attach()
        await self._announce(self.status())

    def _attach(self) -> None:
        """Tap every recorded person's feeds, and start the keyframe and progress ticker."""
        assert self.recording is not None
        self._tracks = [Track(p) for p in self.publishers]
        for track in self._tracks:
            tap = _Tap(self, track)
            for kind in ("video", "audio"):
                feed = self.room.feed(track.publisher, kind)
                # A tap that raises is detached by the feed (the viewers carry on); the
                # recording then stops as failed, saying so, instead of silently going blind.
                feed.add_sink(tap, on_failure=self._tap_failed)
                self._taps.append((feed, tap))
        self._ticker = asyncio.create_task(self._tick(), name=f"recorder-{self.recording.id}")

    async def pause(self, by_role: str) -> None:
        if self.state != "recording" or self.recording is None:
            return
        self.state, self.paused_by = "paused", by_role
        self._paused_since = time.monotonic()
        self.store.set_status(self.recording.id, "paused")
        self.store.add_mark(self.recording.id, self.elapsed_ms() / 1000, "pause", "", by_role)
        await self._announce(self.status())

    async def resume(self, by_role: str) -> None:
        if self.state != "paused" or self.recording is None or self._paused_since is None:
            return
        self._paused_total += time.monotonic() - self._paused_since
        self._paused_since = None
        for track in self._tracks:
            track.anchors.clear()  # frames are re-placed on the timeline from now on
            track.need_keyframe = True
            self.room.feed(track.publisher, "video").request_keyframe()
        self.state, self.paused_by = "recording", None
        self.store.set_status(self.recording.id, "recording")
        self.store.add_mark(self.recording.id, self.elapsed_ms() / 1000, "resume", "", by_role)
        await self._announce(self.status())

    async def stop(self, reason: str = "", status: str = "complete") -> None:
        if self.recording is None or self.state not in ("recording", "paused"):
            return
        recording = self.recording
        self.state = "stopping"
        self._frozen_at = time.monotonic()
        self._detach()
        await self._close_writers()
        duration, size = self._measure()
        self.store.set_progress(recording.id, duration, size)
        self.store.set_status(recording.id, status)
        self.state, self.message = "stopped", reason or None
        await self._announce(self.status())

    def mark(self, kind: str, note: str, by: str) -> float:
        """Put a mark (bookmark, review event, chapter) at this moment of the recording."""
        if self.recording is None or self.state not in ("recording", "paused"):
            raise RuntimeError("not recording")
        t_s = self.elapsed_ms() / 1000
        self.store.add_mark(self.recording.id, t_s, kind, note, by)
        return t_s

    async def bookmark(self, note: str, by: str) -> float:
        return self.mark("bookmark", note, by)

    # -- frames ---------------------------------------------------------------------------
    def elapsed_ms(self) -> int:
        now = self._frozen_at or self._paused_since or time.monotonic()
        return int((now - self._t0 - self._paused_total) * 1000)

    def push(self, track: Track, generation: int, frame: EncodedFrame) -> None:
        """Called on the event loop for every frame of a recorded feed."""
        if self.state != "recording" or self.recording is None:
            return
        kind = "audio" if frame.codec.lower() == "opus" else "video"
        feed = self.room.feed(track.publisher, "video")
        if kind == "video":
            if generation != track.video_generation:
                self._new_video_source(track, generation)
            else:
                track.find_hole(generation, frame)
            if track.need_keyframe:
                if not frame.keyframe:
                    feed.request_keyframe()
                    return
                track.need_keyframe = False
            if track.codec is not None and frame.codec != track.codec:
                self._rotate_segment(track)
        if track.writer is None:
            if kind != "video":
                return
            self._open_segment(track, frame.codec)
        pts_ms = track.place(kind, generation, frame, self.elapsed_ms())
        if kind == "video":
            hole = track.close_hole(pts_ms)
            if hole is not None:
                self._mark_gap(track, *hole)
            track.last_video_ms = pts_ms
        assert track.writer is not None
        track.writer.write(TimedFrame(kind, frame.codec, frame.data, pts_ms, frame.keyframe))

    def _new_video_source(self, track: Track, generation: int) -> None:
        """The browser reconnected: restart at a keyframe and mark the gap."""
        first = track.video_generation is None
        track.video_generation = generation
        track.need_keyframe = True
        track.forget_steps()
        now_ms = self.elapsed_ms()
        marked, track.return_marked = track.return_marked, False
        if not first and self.recording is not None and track.last_video_ms is not None:
            if now_ms - track.last_video_ms > GAP_THRESHOLD_MS and not marked:
                self._mark_gap(track, track.last_video_ms, now_ms)

    def _mark_gap(self, track: Track, start_ms: int, end_ms: int) -> None:
        if self.recording is None:
            return
        rec_id, who = self.recording.id, track.publisher
        self._writes.submit(self._store_gap, rec_id, start_ms / 1000, end_ms / 1000, who)

    def _store_gap(self, recording_id: str, start_s: float, end_s: float, who: str) -> None:
        self.store.add_mark(recording_id, start_s, "gap-start", who, "server")
        self.store.add_mark(recording_id, end_s, "gap-end", who, "server")

    def _open_segment(self, track: Track, codec: str) -> None:
        assert self.recording is not None
        self._segments += 1
        prefix = "segment" if self.publishers == ("family",) else track.publisher
        name = f"{prefix}-{self._segments:03d}.{_EXTENSIONS.get(codec.upper(), 'mkv')}"
        folder = recording_dir(self.data_dir, self.recording.case_id, self.recording.id)
        try:
            self.store.add_segment(self.recording.id, self._segments, name, codec)
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
            # Another process holds the database. The family's frames must not wait for it,
            # nor be lost to it: the file starts now, its row as soon as the database lets
            # us; if it never does, the recording stops as failed, saying so.
            log.warning("recording %s: segment %s listed later: %s", self.recording.id, name, exc)
            self._writes.submit_until_written(
                self.store.add_segment,
                self.recording.id,
                self._segments,
                name,
                codec,
                on_failure=self._tap_failed,
            )
        track.writer = SegmentWriter(self.vault, folder / name, self._writer_failed_threadsafe)
        track.codec = codec

    def _segments_so_far(self, recording: Recording) -> int:
        """The last segment number used: its rows, or a file whose row never landed (the
        database was held when it began, and the process died before it was free)."""
        folder = recording_dir(self.data_dir, recording.case_id, recording.id)
        numbers = [int(m[1]) for p in folder.iterdir() if (m := _SEGMENT_NUMBER.search(p.name))]
        return max([len(self.store.segments(recording.id)), *numbers])

    def _rotate_segment(self, track: Track) -> None:
        """The video codec changed (a different browser rejoined): start a new file."""
        old, track.writer, track.codec = track.writer, None, None
        if old is not None:
            self._own(self._loop.run_in_executor(None, old.close))

    def _detach(self) -> None:
        for feed, tap in self._taps:
            feed.remove_sink(tap)
        self._taps.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _close_writers(self) -> None:
        await self._writes.drain()
        for track in self._tracks:
            writer, track.writer, track.codec = track.writer, None, None
            track.video_generation = None
            if writer is not None:
                await self._loop.run_in_executor(None, writer.close)
        await self._finish_background()

    def _own(self, work: asyncio.Future[Any]) -> None:
        """Keep background work (file closes, failure handling) until stop awaits it."""
        self._background.add(work)
        work.add_done_callback(self._background.discard)

    async def _finish_background(self) -> None:
        current = asyncio.current_task()
        pending = [f for f in self._background if f is not current]
        await asyncio.gather(*pending, return_exceptions=True)

    def _measure(self) -> tuple[float, int]:
        assert self.recording is not None
        return self.elapsed_ms() / 1000, self._recording_size(self.recording)

    def _recording_size(self, recording: Recording) -> int:
        """Bytes in the recording's folder (blocking: file system calls)."""
        folder = recording_dir(self.data_dir, recording.case_id, recording.id)
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())

    async def _tick(self) -> None:
        """Ask for a keyframe every 2 s (seekability) and store the progress every 10 s."""
        ticks = 0
        while True:
            await asyncio.sleep(KEYFRAME_INTERVAL_S)
            ticks += 1
            if self.state == "recording":
                for track in self._tracks:
                    self.room.feed(track.publisher, "video").request_keyframe()
            if self.recording is not None and ticks % PROGRESS_EVERY_TICKS == 0:
                # File and database work off the loop: a slow disk must not hold up frames.
                recording = self.recording
                size = await asyncio.to_thread(self._recording_size, recording)
                duration = self.elapsed_ms() / 1000
                await self._writes.run(self.store.set_progress, recording.id, duration, size)

    # -- failures -------------------------------------------------------------------------
    def _writer_failed_threadsafe(self, exc: BaseException) -> None:
        self._loop.call_soon_threadsafe(self._tap_failed, exc)

    def _tap_failed(self, exc: BaseException) -> None:
        """On the loop: a writer or a tap failed; the recording stops as failed."""
        self._own(self._loop.create_task(self._writer_failed(exc)))

    async def _writer_failed(self, exc: BaseException) -> None:
        if self.recording is None or self.state not in ("recording", "paused"):
            return
        self.message = describe_error(exc)
        self.state = "failed"
        self._frozen_at = time.monotonic()
        self._detach()
        for track in self._tracks:
            writer, track.writer = track.writer, None
            if writer is not None and writer.failed is None:  # keep what the others wrote
                self._own(self._loop.run_in_executor(None, writer.close))
        try:
            self.store.set_status(self.recording.id, "failed", self.message)
            t_s = self.elapsed_ms() / 1000
            self.store.add_mark(self.recording.id, t_s, "error", str(exc), "server")
        except Exception:  # the database may sit on the same full disk
            log.exception("could not mark recording %s failed", self.recording.id)
        await self._announce(self.status())
