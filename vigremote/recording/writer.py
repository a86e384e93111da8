"""Mux encoded frames into Matroska (WebM for VP8 + Opus) on a thread, never re-encoding;
and the recorder's store writes, off the event loop too.

Crash safety comes from the container: Matroska is written cluster by cluster, and we close a
cluster every second and flush it to the sealed file (vault/sealed.py), which seals what it
holds to disk at least every half second, so a SIGKILL loses about a second at most; once the
server has marked the file's end (Vault.finish_unfinished, at the next start) it decodes up to
there. We fsync every few seconds as well, for power cuts. A write error (full disk) stops this
writer and is reported; what is already on disk stays playable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigremote.vault.files import Vault
from vigremote.vault.sealed import SealedFile

log = logging.getLogger(__name__)

MS = Fraction(1, 1000)
CLUSTER_MS = 1000
FSYNC_INTERVAL_S = 2.0
POLL_S = 0.05
_MUX_OPTIONS = {"cluster_time_limit": str(CLUSTER_MS), "flush_packets": "1"}
_VIDEO_STREAM = {"VP8": "libvpx", "H264": "libx264"}


@dataclass(frozen=True, slots=True)
class TimedFrame:
    """An encoded frame placed on the recording's timeline (milliseconds)."""

    kind: str  # "audio" | "video"
    codec: str
    data: bytes
    pts_ms: int
    keyframe: bool


def vp8_size(data: bytes) -> tuple[int, int]:
    """Width and height from a VP8 key frame header (RFC 6386 9.1)."""
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


def starts_cleanly(codec: str, data: bytes) -> bool:
    """False for data that cannot begin an encoded video frame.

    When packets are lost, aiortc's jitter buffer may skip past the hole into the middle of a
    frame and hand on its tail as a frame; written, it and every frame after it until the next
    keyframe decode to garbage. A VP8 frame begins with a 3-byte tag (RFC 6386 9.1: version 0-3,
    first partition no longer than the frame, a start code after a key frame's tag); an H264
    access unit from aiortc begins with an Annex-B start code.
    """
    name = codec.upper()
    if name == "VP8":
        if len(data) < 3:
            return False
        tag = int.from_bytes(data[:3], "little")
        keyframe, version, first_partition = not tag & 1, (tag >> 1) & 7, tag >> 5
        header = 10 if keyframe else 3
        if version > 3 or not 0 < first_partition <= len(data) - header:
            return False
        return not keyframe or data[3:6] == b"\x9d\x01\x2a"
    if name == "H264":
        return data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))
    return True


def h264_parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS NAL units (Annex-B) of an IDR access unit, for the track header."""
    out = b""
    for nal in data.split(b"\x00\x00\x01")[1:]:
        nal = nal.rstrip(b"\x00")
        if nal and nal[0] & 0x1F in (7, 8):
            out += b"\x00\x00\x00\x01" + nal
    return out


class SegmentWriter:
    """One segment file; frames are queued from the event loop and written by one thread."""

    def __init__(
        self,
        vault: Vault,
        path: Path,
        on_error: Callable[[BaseException], None],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.vault = vault
        self.path = path
        self._sink: SealedFile | None = None
        self._queue: queue.SimpleQueue[TimedFrame | None] = queue.SimpleQueue()
        self._on_error = on_error
        self._on_progress = on_progress
        self._thread = threading.Thread(target=self._run, name=f"writer-{path.name}", daemon=True)
        self.failed: BaseException | None = None
        self.last_pts_ms = -1
        self.first_pts_ms: int | None = None
        self.frames_written = 0
        self._thread.start()

    def write(self, frame: TimedFrame) -> None:
        if self.failed is None:
            self._queue.put(frame)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the file (cues, duration) and wait for the thread; blocking."""
        self._queue.put(None)
        self._thread.join(timeout)

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        container: Any = None
        streams: dict[str, Any] = {}
        last: dict[str, int] = {}
        last_sync = time.monotonic()
        try:
            for frame in self._frames():
                if container is None:
                    if frame.kind != "video" or not frame.keyframe:
                        continue  # a segment starts on a video keyframe
                    container, streams = self._open(frame)
                stream = streams.get(frame.kind)
                if stream is None:
                    continue
                pts = max(frame.pts_ms, last.get(frame.kind, -1) + 1)
                last[frame.kind] = pts
                packet = av.Packet(frame.data)
                packet.pts = packet.dts = pts
                packet.time_base = MS
                packet.stream = stream
                if frame.keyframe:
                    packet.is_keyframe = True
                container.mux(packet)
                assert self._sink is not None
                self._sink.seal_if_due()
                self.frames_written += 1
                if self.first_pts_ms is None:
                    self.first_pts_ms = pts
                self.last_pts_ms = max(self.last_pts_ms, pts)
                if time.monotonic() - last_sync >= FSYNC_INTERVAL_S:
                    last_sync = time.monotonic()
                    self._sync()
                    if self._on_progress is not None:
                        self._on_progress(self.last_pts_ms, self.size)
        except BaseException as exc:  # a full disk, an I/O error, a muxer error
            self.failed = exc
            log.error("recording segment %s failed: %r", self.path, exc)
            self._on_error(exc)
        finally:
            self._finish(container)

    def _frames(self) -> Iterator[TimedFrame]:
        """Queued frames until close(), taken in batches every POLL_S: the event loop's puts
        then never have to wake this thread, frame by frame."""
        while True:
            try:
                frame = self._queue.get_nowait()
            except queue.Empty:
                time.sleep(POLL_S)
                continue
            if frame is None:
                return
            yield frame
            if self._sink is not None:  # nothing new may come for a while (paused)
                self._sink.seal_if_due()

    def _open(self, first: TimedFrame) -> tuple[Any, dict[str, Any]]:
        self._sink = self.vault.create(self.path)
        self._sink.durable = True  # fsynced when closed: a finished segment survives a power cut
        container = av.open(self._sink, "w", format="matroska", options=_MUX_OPTIONS)
        video: Any = container.add_stream(_VIDEO_STREAM.get(first.codec.upper(), "libvpx"), rate=30)
        video.time_base = MS
        if first.codec.upper() == "VP8":
            video.width, video.height = vp8_size(first.data)
        else:
            video.width, video.height = 1280, 720  # the decoder reads the real size from SPS
            video.codec_context.extradata = h264_parameter_sets(first.data)
        audio: Any = container.add_stream("libopus", rate=48000)
        audio.layout = "stereo"
        audio.time_base = MS
        return container, {"video": video, "audio": audio}

    def _sync(self) -> None:
        if self._sink is None or self._sink.closed:
            return
        try:
            self._sink.fsync()
        except OSError as exc:
            log.warning("fsync of %s failed: %s", self.path, exc)

    def _finish(self, container: Any) -> None:
        if container is None:
            return
        try:
            container.close()  # writes the cues, then closes the sealed file (its last chunk)
        except BaseException as exc:  # the disk may still be full: what was sealed plays
            log.warning("closing %s failed: %r", self.path, exc)
            if self.failed is None:
                self.failed = exc
                self._on_error(exc)
        finally:
            if self._sink is not None and not self._sink.closed:
                try:
                    self._sink.close()
                except OSError as exc:
                    log.warning("sealing the end of %s failed: %r", self.path, exc)


LOCKED_RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)  # waits between tries while the database is held


def is_locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection (another process) holds the database."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "is locked" in str(exc) or "is busy" in str(exc)


def _name(write: Callable[..., None]) -> str:
    return getattr(write, "__name__", "")


class StoreWrites:
    """Store writes from the media path, on a worker thread, one at a time and in order.

    A write can wait on the disk (SQLite's WAL is fsynced on commit); frames must not. The
    connection is shared with the event loop thread (SQLite serializes calls on it); these
    writes are serialized among themselves, and `drain` waits for them before a stop. A
    failed write is logged and dropped (the database may sit on a full disk: the recording
    goes on), unless it must land: then it is tried again while the database is held by
    another process, and `on_failure` hears if it never lands.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        self._start(self.run(write, *args))

    def submit_until_written(
        self,
        write: Callable[..., None],
        *args: Any,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._start(self._until_written(write, args, on_failure))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, write: Callable[..., None], *args: Any) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(write, *args)
            except Exception:
                log.exception("recording store write %s failed", _name(write))

    async def _until_written(
        self,
        write: Callable[..., None],
        args: tuple[Any, ...],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        async with self._lock:
            for wait_s in (*LOCKED_RETRY_S, None):
                try:
                    await asyncio.to_thread(write, *args)
                    return
                except Exception as exc:
                    locked = isinstance(exc, sqlite3.OperationalError) and is_locked(exc)
                    if not locked or wait_s is None:
                        log.exception("recording store write %s failed", _name(write))
                        on_failure(exc)
                        return
                    await asyncio.sleep(wait_s)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
