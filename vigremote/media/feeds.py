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
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from vigremote.media.passthrough import EncodedFrame

log = logging.getLogger(__name__)

KeyframeRequester = Callable[[], Awaitable[None]]
KEYFRAME_REQUEST_MIN_INTERVAL_S = 0.5
VIEWER_QUEUE_FRAMES = 90


class FrameSink(Protocol):
    """Anything that takes every frame of a feed: viewers' tracks, later the recorder."""

    def push(self, generation: int, frame: EncodedFrame) -> None: ...


class Feed:
    """One kind (audio or video) of one publisher, e.g. the family's camera."""

    def __init__(self, kind: str, label: str) -> None:
        self.kind = kind
        self.label = label
        self.generation = 0
        self.frames_in = 0
        self.last_frame_at: float | None = None
        self._sinks: list[FrameSink] = []
        self._pump: asyncio.Task[None] | None = None
        self._request_keyframe: KeyframeRequester | None = None
        self._last_keyframe_request = 0.0
        self._source_track: Any = None
        self._served = False  # produced by the server (see serve), not relayed from a browser

    @property
    def live(self) -> bool:
        return self._pump is not None and not self._pump.done()

    def attach(self, track: Any, request_keyframe: KeyframeRequester) -> None:
        """Make `track` (an aiortc remote track yielding EncodedFrames) the feed's source."""
        self.detach()
        self.generation += 1
        self._source_track = track
        self._request_keyframe = request_keyframe
        self._last_keyframe_request = 0.0
        self._pump = asyncio.create_task(
            self._run(track, self.generation), name=f"feed-{self.label}"
        )

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
        for sink in list(self._sinks):
            sink.push(generation, frame)

    def detach(self, track: Any = None) -> None:
        """Stop reading the current source (only if it is still `track`, when given)."""
        if track is not None and track is not self._source_track:
            return
        if self._pump is not None:
            self._pump.cancel()
        self._pump = None
        self._source_track = None
        self._request_keyframe = None

    def add_sink(self, sink: FrameSink) -> None:
        self._sinks.append(sink)
        # A browser is asked at most twice a second; the server's own player answers at once
        # (it resends the picture it holds), so every new viewer gets a picture straight away.
        self.request_keyframe(0.0 if self._served else KEYFRAME_REQUEST_MIN_INTERVAL_S)

    def remove_sink(self, sink: FrameSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    def subscribe(self) -> ForwardTrack:
        """A new track for one viewer's RTCPeerConnection."""
        track = ForwardTrack(self)
        self.add_sink(track)
        return track

    def request_keyframe(self, min_interval_s: float = KEYFRAME_REQUEST_MIN_INTERVAL_S) -> None:
        """Ask the publisher for a keyframe, at most twice a second."""
        now = time.monotonic()
        if self.kind != "video" or self._request_keyframe is None:
            return
        if now - self._last_keyframe_request < min_interval_s:
            return
        self._last_keyframe_request = now
        task = asyncio.ensure_future(self._request_keyframe())
        task.add_done_callback(_log_failure)

    async def _run(self, track: Any, generation: int) -> None:
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, EncodedFrame):
                    continue
                self.frames_in += 1
                self.last_frame_at = time.monotonic()
                for sink in list(self._sinks):
                    sink.push(generation, frame)
        except MediaStreamError:
            log.info("feed %s: source track ended", self.label)
        finally:
            if self._pump is asyncio.current_task():
                self._pump = None

    def close(self) -> None:
        self.detach()
        for sink in list(self._sinks):
            if isinstance(sink, ForwardTrack):
                sink.stop()
        self._sinks.clear()


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("keyframe request failed: %s", task.exception())


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
