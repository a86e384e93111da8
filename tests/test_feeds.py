"""Feed: one failing sink never freezes the others, and the feed owns every task it starts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from fractions import Fraction

import pytest
from aiortc.mediastreams import MediaStreamError

from vigremote.media.feeds import Feed
from vigremote.media.passthrough import EncodedFrame

TIMEOUT = 5.0


def frame(number: int, keyframe: bool = True) -> EncodedFrame:
    return EncodedFrame(
        "VP8", bytes([number % 256]) * 8, number * 3000, Fraction(1, 90000), keyframe
    )


class QueueTrack:
    """A source track fed by the test; notes when a reader was cancelled."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue()
        self.cancelled = False

    async def recv(self) -> EncodedFrame:
        try:
            item = await self.queue.get()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if item is None:
            raise MediaStreamError
        return item


class Collect:
    def __init__(self) -> None:
        self.frames: list[EncodedFrame] = []
        self.got = asyncio.Event()

    def push(self, generation: int, frame: EncodedFrame) -> None:
        self.frames.append(frame)
        self.got.set()


class Explode:
    """A sink with a bug (the recorder or a viewer): raises on its second frame."""

    def __init__(self) -> None:
        self.calls = 0

    def push(self, generation: int, frame: EncodedFrame) -> None:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("sink bug")


async def no_keyframes() -> None:
    return None


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_raising_sink_is_detached_and_the_others_keep_receiving() -> None:
    feed = Feed("video", "t/family/video")
    source = QueueTrack()
    feed.attach(source, no_keyframes)
    before, bad, after = Collect(), Explode(), Collect()
    failures: list[Exception] = []
    feed.add_sink(before)
    feed.add_sink(bad, on_failure=failures.append)
    feed.add_sink(after)
    try:
        for number in range(5):
            source.queue.put_nowait(frame(number))
        await until(lambda: len(after.frames) == 5, "five frames after the failing sink")
        # Every frame reached both healthy sinks, in order, and the pump is still running.
        assert [f.pts for f in before.frames] == [f.pts for f in after.frames]
        assert len(before.frames) == 5
        assert feed.live
        # The failing sink was detached at its failure and told why, once.
        assert bad.calls == 2
        assert feed._sinks == [before, after]
        assert [str(e) for e in failures] == ["sink bug"]
        assert feed.sink_failures == 1
    finally:
        await feed.close()


async def test_a_raising_sink_does_not_stop_a_server_feed() -> None:
    """The review player publishes itself: a failing sink must not raise into the player."""
    feed = Feed("video", "t/player/video")
    generation = feed.serve(no_keyframes)
    bad, good = Explode(), Collect()
    feed.add_sink(bad)
    feed.add_sink(good)
    for number in range(4):
        feed.publish(generation, frame(number))
    assert len(good.frames) == 4
    assert feed._sinks == [good]
    await feed.close()


async def test_a_failing_viewer_track_is_ended_not_frozen() -> None:
    """A viewer whose track raises gets an ended track (its page reconnects)."""
    feed = Feed("video", "t/family/video")
    generation = feed.serve(no_keyframes)
    viewer, other = feed.subscribe(), feed.subscribe()

    def broken(generation: int, frame: EncodedFrame) -> None:
        raise ValueError("broken viewer")

    viewer.push = broken  # type: ignore[method-assign]
    feed.publish(generation, frame(0))
    assert viewer.readyState == "ended"
    assert feed._sinks == [other]
    assert (await asyncio.wait_for(other.recv(), TIMEOUT)).pts == 0
    await feed.close()


async def test_close_cancels_and_awaits_a_pending_keyframe_request_and_the_pump() -> None:
    feed = Feed("video", "t/family/video")
    source = QueueTrack()
    started, ended = asyncio.Event(), asyncio.Event()

    async def hanging_request() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a publisher's connection that never answers
        finally:
            ended.set()

    feed.attach(source, hanging_request)
    feed.request_keyframe(0.0)
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await asyncio.sleep(0)  # the pump is waiting for a frame
    await feed.close()
    # Both tasks were cancelled and had finished by the time close() returned.
    assert ended.is_set()
    assert source.cancelled
    assert feed._tasks == set()
    assert not feed.live
    # A closed feed starts nothing new.
    feed.request_keyframe(0.0)
    assert feed._tasks == set()


async def test_one_keyframe_request_at_a_time_and_failures_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = Feed("video", "t/family/video")
    calls: list[int] = []
    gate = asyncio.Event()

    async def request() -> None:
        calls.append(len(calls))
        await gate.wait()
        raise ConnectionError("transport closed")

    feed.serve(request)
    feed.request_keyframe(0.0)
    await until(lambda: calls == [0], "the first request")
    feed.request_keyframe(0.0)  # the first is still in flight: not asked again
    assert calls == [0]
    with caplog.at_level(logging.WARNING, logger="vigremote.media.feeds"):
        gate.set()
        await until(lambda: not feed._tasks, "the request to finish")
    assert "keyframe request failed" in caplog.text and "transport closed" in caplog.text
    feed.request_keyframe(0.0)  # a failed request does not stop later ones
    await until(lambda: calls == [0, 1], "the second request")
    await feed.close()


async def test_a_source_that_ends_stops_the_pump_quietly() -> None:
    feed = Feed("video", "t/family/video")
    source = QueueTrack()
    feed.attach(source, no_keyframes)
    sink = Collect()
    feed.add_sink(sink)
    source.queue.put_nowait(frame(0))
    source.queue.put_nowait(None)
    await until(lambda: not feed.live, "the pump to end")
    assert len(sink.frames) == 1
    await feed.close()
