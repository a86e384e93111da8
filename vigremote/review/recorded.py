"""A recorded shared review played into a call: both cameras and the clip, on one timeline.

The recording's timeline is the master clock. One camera (the family's when there is one)
leads: the call's frame numbers are its frames, so a step is one frame of that camera. At each
of its frames, the other camera shows its last frame at or before that moment, and the clip
slot shows what the review's player showed then, rebuilt from the recorded playback events
(which clip or still, which frame, playing or held: as the replay page does). A hold holds all
three as sharp pictures; playing sends each source's own packets as far as they follow.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigremote.review.clipmedia import ClipCodec, ClipMedia, blank_keyframe, still_keyframe
from vigremote.review.video_out import VideoOut
from vigremote.vault.files import Vault


@dataclass(frozen=True)
class RecordedReview:
    """What the player needs to know of a recorded review (made by whoever opens it)."""

    cameras: tuple[tuple[str, Path], ...]  # (publisher, file) in the recording's order
    events: tuple[Mapping[str, Any], ...]  # the review player's events: t_s, action, ...
    pictures: Mapping[str, tuple[str, Path]] = field(default_factory=dict)  # id -> (kind, file)


@dataclass
class Source:
    media: ClipMedia
    codec: ClipCodec
    times: list[float]  # ms on the recording's timeline


def load_source(vault: Vault, path: Path, out_codec: str) -> Source:
    """A file in memory with its codec (blocking: call in a thread)."""
    media = ClipMedia.load(vault, path)
    return Source(media, ClipCodec(media, out_codec), media.times_ms())


@dataclass(frozen=True)
class ClipOnScreen:
    """What the review's player showed at one moment."""

    kind: str | None  # "clip", "still" or None (nothing)
    id: str | None
    frame: int  # the clip's frame held, or where it played from
    playing: bool
    since_s: float  # when it started playing from `frame`
    speed: float


def clip_on_screen(events: tuple[Mapping[str, Any], ...], t_s: float) -> ClipOnScreen:
    """Replay the recorded player events up to `t_s`."""
    kind: str | None = None
    item: str | None = None
    frame, playing, since, speed = 0, False, 0.0, 1.0
    for event in events:
        if float(event["t_s"]) > t_s:
            break
        action = event.get("action")
        if action == "select":
            kind, item, frame, playing = event.get("kind"), event.get("id"), 0, False
        elif action == "play":
            frame, playing, since = int(event.get("frame", 0)), True, float(event["t_s"])
            speed = float(event.get("speed") or speed)
        elif action in ("pause", "seek", "end"):
            frame, playing = int(event.get("frame", 0)), False
        elif action == "speed":
            speed = float(event.get("speed") or speed)
        elif action == "removed":
            kind, item, playing = None, None, False
    return ClipOnScreen(kind, item, frame, playing, since, speed)


def frame_at(times: list[float], t_ms: float) -> int:
    """The last frame shown at or before `t_ms` (the first, before it starts)."""
    return max(0, bisect.bisect_right(times, t_ms + 0.5) - 1)


class CameraFollower:
    """A camera that is not the leading one: its last frame at each moment of the leader."""

    def __init__(self, out: VideoOut, sources: list[Source]) -> None:
        self.out, self.sources = out, sources
        self._current: Source | None = None

    async def at(self, t_ms: float, playing: bool) -> None:
        starts = [s.times[0] if s.times else 0.0 for s in self.sources]
        source = self.sources[max(0, bisect.bisect_right(starts, t_ms) - 1)]
        if source is not self._current:
            self._current = source
            self.out.show(source.media, source.codec)
        number = frame_at(source.times, t_ms)
        if playing:
            await self.out.advance_to(number)
        elif self.out.held is None or self.out.sent != number:
            await self.out.hold(number)

    def audio(self) -> list[ClipMedia]:
        return [s.media for s in self.sources]


class ClipFollower:
    """The clip slot: what the review's player showed at each moment of the leader."""

    def __init__(self, out: VideoOut, review: RecordedReview, vault: Vault, size: tuple[int, int]):
        self.out, self.review, self.vault, self.size = out, review, vault, size
        self._clips: dict[str, Source] = {}
        self._shown: tuple[str | None, str | None] | None = None  # (kind, id) on screen

    async def at(self, t_ms: float, playing: bool) -> None:
        screen = clip_on_screen(self.review.events, t_ms / 1000)
        picture = self.review.pictures.get(screen.id or "")
        if screen.kind is None or picture is None:
            if self._shown != (None, None):
                self._shown = (None, None)
                self.out.show(None, None)
                self.out.hold_bytes(
                    await asyncio.to_thread(blank_keyframe, self.out.out_codec, self.size)
                )
            return
        kind, path = picture
        if kind == "still":
            if self._shown != ("still", screen.id):
                self._shown = ("still", screen.id)
                self.out.show(None, None)
                data = await asyncio.to_thread(still_keyframe, self.vault, path, self.out.out_codec)
                self.out.hold_bytes(data)
            return
        assert screen.id is not None
        source = self._clips.get(screen.id)
        if source is None:
            source = await asyncio.to_thread(load_source, self.vault, path, self.out.out_codec)
            self._clips[screen.id] = source
        if self._shown != ("clip", screen.id):
            self._shown = ("clip", screen.id)
            self.out.show(source.media, source.codec)
        number = max(0, min(screen.frame, len(source.times) - 1))
        if screen.playing:
            target = source.times[number] + (t_ms / 1000 - screen.since_s) * screen.speed * 1000
            number = frame_at(source.times, target)
        if playing and screen.playing:
            await self.out.advance_to(number)
        elif self.out.held is None or self.out.sent != number:
            await self.out.hold(number)


class RecordedPlayback:
    """A recorded review loaded for playing: the leading camera's file, and its followers."""

    def __init__(
        self,
        leader: tuple[str, Source],
        followers: list[CameraFollower | ClipFollower],
        cameras: list[str],
        audio: list[tuple[str, ClipMedia]],
    ) -> None:
        self.leader_publisher, self.leader = leader
        self.followers = followers
        self.cameras = cameras  # publishers shown, in order
        self.audio = audio  # (publisher, media) whose sound plays at 1x

    async def at(self, t_ms: float, playing: bool) -> None:
        """Every follower to the moment `t_ms` (together: each works in threads of its own)."""
        await asyncio.gather(*(follower.at(t_ms, playing) for follower in self.followers))


async def load(
    review: RecordedReview,
    vault: Vault,
    out_codec: str,
    camera_out: Callable[[str], VideoOut],
    clip_out: VideoOut,
) -> RecordedPlayback:
    """Open a recorded review's files; `camera_out(publisher)` is where each camera goes.
    A camera whose recording a codec change split into several files leads with its longest."""
    by_publisher: dict[str, list[Source]] = {}
    for publisher, path in review.cameras:
        source = await asyncio.to_thread(load_source, vault, path, out_codec)
        if source.times:
            by_publisher.setdefault(publisher, []).append(source)
    if not by_publisher:
        raise ValueError("this recorded review holds no pictures")
    order = sorted(by_publisher, key=lambda p: (p != "family", list(by_publisher).index(p)))
    leading = order[0]
    leader = max(by_publisher[leading], key=lambda s: len(s.times))
    followers: list[CameraFollower | ClipFollower] = [
        CameraFollower(camera_out(p), by_publisher[p]) for p in order[1:]
    ]
    size = (leader.media.index.width, leader.media.index.height)
    followers.append(ClipFollower(clip_out, review, vault, size))
    audio = [(leading, leader.media)] + [(p, s.media) for p in order[1:] for s in by_publisher[p]]
    return RecordedPlayback((leading, leader), followers, order, audio)
