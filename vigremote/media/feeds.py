"""Fan one publisher's track out to many viewers without decoding it.

A Feed outlives the publisher's connection: when the family reloads the page, their new track
is attached to the same Feed, and every viewer's ForwardTrack carries on with a continuous
timeline. Each viewer has a small bounded queue: a viewer that falls behind skips to the next
keyframe instead of slowing the others down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from vigremote.media.passthrough import EncodedFrame

log = logging.getLogger(__name__)

KeyframeRequester = Callable[[], Awaitable[None]]
SinkFailed = Callable[[Exception], None]
KEYFRAME_REQUEST_MIN_INTERVAL_S = 0.5
VIEWER_QUEUE_FRAMES = 90


class FrameSink(Protocol):
    """Anything that takes every frame of a feed: viewers' tracks, the recorder."""

    def push(self, generation: int, frame: EncodedFrame) -> None: ...


class Feed:
    """One kind (audio or video) of one publisher, e.g. the family's camera.

    Sinks are isolated from each other: a sink whose push raises is detached (and told, when
    it gave an on_failure callback), and the others carry on. The feed owns every task it
    starts (the pump reading the source, keyframe requests): close() cancels and awaits them.
    """

    def __init__(self, kind: str, label: str) -> None:
        self.kind = kind
        self.label = label
        self.generation = 0
        self.frames_in = 0
        self.last_frame_at: float | None = None
        self.sink_failures = 0
        self._sinks: list[FrameSink] = []
        self._on_failure: dict[int, SinkFailed] = {}  # by id(sink)
        self._pump: asyncio.Task[None] | None = None
        self._asking: asyncio.Task[None] | None = None  # the keyframe request in flight
        self._tasks: set[asyncio.Task[None]] = set()  # all not yet finished, pumps included
        self._request_keyframe: KeyframeRequester | None = None
        self._last_keyframe_request = 0.0
        self._source_track: Any = None
        self._served = False  # produced by the server (see serve), not relayed from a browser
        self._closed = False

    @property
    def live(self) -> bool:
        return self._pump is not None and not self._pump.done()

    def attach(self, track: Any, request_keyframe: KeyframeRequester) -> None:
        """Make `track` (an aiortc remote track yielding EncodedFrames) the feed's source."""
        self.detach()
        if self._closed:
            return
        self.generation += 1
        self._source_track = track
        self._request_keyframe = request_keyframe
        self._last_keyframe_request = 0.0
        self._pump = self._own(self._run(track, self.generation), f"feed-{self.label}")

    def serve(self, request_keyframe: KeyframeRequester) -> int:
        """Become a feed the server itself produces (the review player); returns the generation."""
        self.detach()
        self.generation += 1
        self._request_keyframe = request_keyframe
        self._last_keyframe_request = 0.0
        self._served = True
        return self.generation

    def publish(self, generation: int, frame: EncodedFrame) -> None:
        """Hand one server-produced frame to every viewer (see serve)."""
        self.frames_in += 1
        self.last_frame_at = time.monotonic()
        self._deliver(generation, frame)

    def detach(self, track: Any = None) -> None:
        """Stop reading the current source (only if it is still `track`, when given).

        The pump is cancelled here and awaited by close(): detach stays a plain call.
        """
        if track is not None and track is not self._source_track:
            return
        if self._pump is not None:
            self._pump.cancel()
        self._pump = None
        self._source_track = None
        self._request_keyframe = None

    def add_sink(self, sink: FrameSink, on_failure: SinkFailed | None = None) -> None:
        """Send every frame to `sink`; if its push raises, it is detached and `on_failure`
        (when given) is called with the exception."""
        self._sinks.append(sink)
        if on_failure is not None:
            self._on_failure[id(sink)] = on_failure
        # A browser is asked at most twice a second; the server's own player answers at once
        # (it resends the picture it holds), so every new viewer gets a picture straight away.
        self.request_keyframe(0.0 if self._served else KEYFRAME_REQUEST_MIN_INTERVAL_S)

    def remove_sink(self, sink: FrameSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)
        if sink not in self._sinks:
            self._on_failure.pop(id(sink), None)

    def subscribe(self) -> ForwardTrack:
        """A new track for one viewer's RTCPeerConnection."""
        track = ForwardTrack(self)
        # A viewer whose track failed gets an ended track (its page reconnects), not a frozen
        # picture.
        self.add_sink(track, on_failure=lambda exc: track.stop())
        return track

    def request_keyframe(self, min_interval_s: float = KEYFRAME_REQUEST_MIN_INTERVAL_S) -> None:
        """Ask the publisher for a keyframe, at most twice a second, one request at a time."""
        now = time.monotonic()
        requester = self._request_keyframe
        if self.kind != "video" or requester is None or self._closed:
            return
        if now - self._last_keyframe_request < min_interval_s:
            return
        if self._asking is not None and not self._asking.done():
            return
        self._last_keyframe_request = now
        self._asking = self._own(self._ask(requester), f"keyframe-{self.label}")

    async def close(self) -> None:
        """Hang up every viewer, then cancel and await every task the feed started."""
        self._closed = True
        self.detach()
        for sink in list(self._sinks):
            if isinstance(sink, ForwardTrack):
                sink.stop()
        self._sinks.clear()
        self._on_failure.clear()
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals -------------------------------------------------------------------------
    def _own(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _deliver(self, generation: int, frame: EncodedFrame) -> None:
        for sink in list(self._sinks):
            try:
                sink.push(generation, frame)
            except Exception as exc:  # one sink's bug must not freeze the others
                self._sink_failed(sink, exc)

    def _sink_failed(self, sink: FrameSink, exc: Exception) -> None:
        log.error("feed %s: detaching a sink that failed: %r", self.label, exc, exc_info=exc)
        self.sink_failures += 1
        callback = self._on_failure.pop(id(sink), None)
        self.remove_sink(sink)
        if callback is not None:
            try:
                callback(exc)
            except Exception:
                log.exception("feed %s: a sink's failure callback failed", self.label)

    async def _ask(self, requester: KeyframeRequester) -> None:
        try:
            await requester()
        except Exception as exc:  # the publisher's connection may be closing
            log.warning("feed %s: keyframe request failed: %r", self.label, exc)

    async def _run(self, track: Any, generation: int) -> None:
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, EncodedFrame):
                    continue
                self.frames_in += 1
                self.last_frame_at = time.monotonic()
                self._deliver(generation, frame)
        except MediaStreamError:
            log.info("feed %s: source track ended", self.label)
        except Exception:
            log.exception("feed %s: reading the source failed", self.label)
        finally:
            if self._pump is asyncio.current_task():
                self._pump = None


class ForwardTrack(MediaStreamTrack):
    """A viewer's copy of a feed: yields av.Packets that aiortc's sender packs as they are."""

    def __init__(self, feed: Feed) -> None:
        super().__init__()
        self.kind = feed.kind
        self._feed = feed
        self._queue: deque[tuple[int, EncodedFrame]] = deque()
        self._ready = asyncio.Event()
        self._waiting_for_keyframe = feed.kind == "video"
        self._generation = -1
        self._offset = 0
        self._last_pts: int | None = None
        self.frames_out = 0
        # The codec this viewer's connection negotiated; frames in another codec cannot be
        # forwarded unchanged (transcoding them is not implemented yet) and are dropped.
        self.codec: str | None = None
        self.frames_wrong_codec = 0

    def push(self, generation: int, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if self.codec is not None and self.kind == "video" and frame.codec != self.codec:
            if self.frames_wrong_codec == 0:
                log.warning("viewer expects %s but the feed sends %s", self.codec, frame.codec)
            self.frames_wrong_codec += 1
            return
        if self._waiting_for_keyframe:
            if not frame.keyframe:
                self._feed.request_keyframe()
                return
            self._waiting_for_keyframe = False
        if len(self._queue) >= VIEWER_QUEUE_FRAMES:
            # This viewer is behind: drop what it has not sent and restart at a keyframe.
            self._queue.clear()
            if self.kind == "video":
                self._waiting_for_keyframe = True
                self._feed.request_keyframe()
            return
        self._queue.append((generation, frame))
        self._ready.set()

    def request_keyframe(self) -> None:
        """Called when the viewer's browser sends a PLI/FIR for this track."""
        self._feed.request_keyframe()

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        generation, frame = self._queue.popleft()
        pts = self._continuous_pts(generation, frame)
        packet = av.Packet(frame.data)
        packet.pts = pts
        packet.dts = pts
        packet.time_base = frame.time_base
        self.frames_out += 1
        return packet

    def _continuous_pts(self, generation: int, frame: EncodedFrame) -> int:
        """Keep timestamps rising when the publisher reconnects and its clock restarts."""
        if generation != self._generation:
            self._generation = generation
            step = int(frame.time_base.denominator // 30) if self.kind == "video" else 960
            base = 0 if self._last_pts is None else self._last_pts + step
            self._offset = base - frame.pts
        pts = frame.pts + self._offset
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def stop(self) -> None:
        self._feed.remove_sink(self)
        super().stop()
        self._ready.set()
