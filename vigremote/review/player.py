"""The player: a system participant of a review room that plays clips into the call.

Every participant receives the player's feeds ("player"/video and audio) on their clip slot.
Playing sends the clip's own packets, paced by the wall clock and the speed; audio only at 1×.
A hold (pause, seek, step, a still) sends one sharp keyframe of exactly that frame, so every
screen shows the same picture; it is sent again to anyone who joins or asks for a keyframe
(review/video_out.py). A recorded shared review (in a supervision call) plays its two cameras
on feeds of their own beside the clip, all three on the recording's timeline (review/recorded.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vigremote.media.passthrough import EncodedFrame
from vigremote.messages import (
    Participant,
    PauseRequest,
    RecordingStatus,
    ReviewPlayState,
    ReviewState,
    ServerMessage,
)
from vigremote.review import recorded
from vigremote.review.clipmedia import ClipCodec, ClipMedia, blank_keyframe, still_keyframe
from vigremote.review.recorded import RecordedPlayback, RecordedReview
from vigremote.review.video_out import VideoOut
from vigremote.rooms import PLAYER, Room, recorded_camera_feed
from vigremote.vault.files import Vault

log = logging.getLogger(__name__)

AUDIO_TB = Fraction(1, 48000)
SPEEDS = (0.25, 0.5, 1.0)
STATE_INTERVAL_S = 1.0
MAX_LATE_S = 0.3
WITHDRAWN_NOTICE = "Consent to show this clip was taken back, so it is no longer shown."


@dataclass(frozen=True)
class Item:
    """A playlist entry the player can show: a clip file or a still picture."""

    kind: str  # "clip" | "still" | "recording" (a recorded shared review)
    id: str
    title: str
    path: Path
    first_frame: int = 0  # the clip's first frame number in its recording (for the notes)
    # The consent purposes that must all hold for it to be shown (consent/policy.py).
    needs: frozenset[str] = frozenset()
    recorded: RecordedReview | None = None  # a recording's cameras and events


Announce = Callable[[ServerMessage], Awaitable[None]]
EventSink = Callable[[str, dict[str, Any]], None]


class Player:
    id = "player"
    role = "player"
    name = "Clip player"

    def __init__(
        self,
        room: Room,
        items: list[Item],
        announce: Announce,
        vault: Vault,
        out_codec: str = "VP8",
        purposes: tuple[str, ...] = (),
    ):
        self.room = room
        self.vault = vault  # clips and stills are sealed files
        self._playlist = list(items)
        self._purposes = frozenset(purposes)
        # What may be shown now: the playlist less what the family's consent does not cover.
        self.items = [i for i in items if i.needs <= self._purposes]
        self.notice: str | None = None  # why something was taken off screen, for everyone
        self._announce = announce
        self.out_codec = out_codec
        self.events: list[EventSink] = []
        self.index = -1
        self.media: ClipMedia | None = None
        self.codec: ClipCodec | None = None
        self.playing = False
        self.frame = 0  # the frame on screen (held) or the next one to send (playing)
        self.speed = 1.0
        self.loop = False
        self.pause_request: PauseRequest | None = None
        self.recorded: RecordedPlayback | None = None
        self._task: asyncio.Task[None] | None = None
        self._t0 = time.monotonic()
        # Video and audio feeds by publisher: the clip's ("player"), a recorded review's cameras.
        self._outs: dict[str, VideoOut] = {
            PLAYER: VideoOut(room.feed(PLAYER, "video"), out_codec, self._t0)
        }
        self._audio_outs: dict[str, tuple[Any, int]] = {}
        self._main = self._outs[PLAYER]  # the feed that follows the frame numbers
        self._audio_out(PLAYER)
        self._commands = asyncio.Lock()
        self._recording_seen = False

    # -- room membership ------------------------------------------------------------------
    def describe(self) -> Participant:
        return {
            "id": self.id,
            "role": self.role,
            "name": self.name,
            "media": self.status()["state"],
        }

    def on_roster(self, roster: list[Participant]) -> None:
        return None

    def on_recording(self, status: RecordingStatus) -> None:
        """When a recording starts, note what is on screen right now, so a replay of the
        recording knows which clip and frame it opens on."""
        recording_now = status["state"] == "recording"
        if recording_now and not self._recording_seen and 0 <= self.index < len(self.items):
            item = self.items[self.index]
            self._event("select", item=self.index, kind=item.kind, id=item.id)
            if self.playing:
                self._event("play", frame=self.frame, speed=self.speed)
            elif item.kind == "clip":
                self._event("seek", frame=self.frame)
        self._recording_seen = status["state"] in ("recording", "paused")

    async def on_consent(self, purposes: tuple[str, ...]) -> None:
        """The family changed their consent: what it no longer covers leaves the screen now."""
        self._purposes = frozenset(purposes)
        await self._refilter(WITHDRAWN_NOTICE)

    async def remove(self, keys: set[tuple[str, str]], notice: str) -> None:
        """Items deleted from the case leave the playlist (and the screen, if showing)."""
        self._playlist = [i for i in self._playlist if (i.kind, i.id) not in keys]
        await self._refilter(notice)

    async def _refilter(self, notice: str) -> None:
        async with self._commands:
            showing = self.items[self.index] if 0 <= self.index < len(self.items) else None
            self.items = [i for i in self._playlist if i.needs <= self._purposes]
            if showing is not None and showing in self.items:
                self.index = self.items.index(showing)
            elif showing is not None:
                await self._stop_task()
                size = (self.media.index.width, self.media.index.height) if self.media else None
                self.index, self.media, self.codec, self.frame = -1, None, None, 0
                self.pause_request, self.notice = None, notice
                picture = await asyncio.to_thread(blank_keyframe, self.out_codec, size)
                for out in self._outs.values():
                    out.show(None, None)
                    out.hold_bytes(picture)
                self._main, self.recorded = self._outs[PLAYER], None
                self._event("removed", kind=showing.kind, id=showing.id)
        await self._announce(self.status())

    async def close(self) -> None:
        await self._stop_task()
        for out in self._outs.values():
            await out.close()

    def status(self) -> ReviewState:
        item = self.items[self.index] if 0 <= self.index < len(self.items) else None
        frames = len(self.media.index) if self.media and item and item.kind != "still" else 0
        state: ReviewPlayState = (
            "empty"
            if item is None
            else "still"
            if item.kind == "still"
            else ("playing" if self.playing else "paused")
        )
        return {
            "type": "review-state",
            "state": state,
            "item": self.index,
            "items": [{"kind": i.kind, "id": i.id, "title": i.title} for i in self.items],
            "frame": min(self.frame, max(frames - 1, 0)),
            "frames": frames,
            "first_frame": item.first_frame if item else 0,
            "cameras": self.recorded.cameras if self.recorded else [],
            "speed": self.speed,
            "loop": self.loop,
            "pause_request": self.pause_request,
            "notice": self.notice,
            # The same as a stable key (web/i18n notice.*): withdrawn, or else deleted (remove()).
            "notice_code": None
            if self.notice is None
            else "consent-withdrawn"
            if self.notice == WITHDRAWN_NOTICE
            else "deleted",
        }

    # -- commands (the practitioner's) ----------------------------------------------------
    async def select(self, index: int) -> None:
        if not 0 <= index < len(self.items):
            raise ValueError("no such playlist item")
        async with self._commands:
            await self._stop_task()
            item = self.items[index]
            self.index, self.frame, self.pause_request, self.notice = index, 0, None, None
            for out in self._outs.values():
                out.show(None, None)
            self._main, self.recorded = self._outs[PLAYER], None
            if item.kind == "still":
                self.media, self.codec = None, None
                picture = await asyncio.to_thread(
                    still_keyframe, self.vault, item.path, self.out_codec
                )
                self._main.hold_bytes(picture)
            elif item.recorded is not None:
                playback = await recorded.load(
                    item.recorded, self.vault, self.out_codec, self._camera_out, self._main
                )
                self.recorded, self._main = playback, self._camera_out(playback.leader_publisher)
                self.media, self.codec = playback.leader.media, playback.leader.codec
                self._main.show(self.media, self.codec)
                await self._hold(0)
            else:
                self.media = await asyncio.to_thread(ClipMedia.load, self.vault, item.path)
                self.codec = ClipCodec(self.media, self.out_codec)
                self._main.show(self.media, self.codec)
                await self._hold(0)
            self._event("select", item=index, kind=item.kind, id=item.id)
        await self._announce(self.status())

    async def play(self) -> None:
        async with self._commands:
            if self.media is None or self.playing:
                return
            if self.frame >= len(self.media.index) - 1 and not self.loop:
                self.frame = 0
                await self._hold(0)
            else:
                self._main.resume_as_sent(self.frame)
                self.frame = self.frame + 1 if self.frame + 1 < len(self.media.index) else 0
            self.playing, self.pause_request = True, None
            self._task = asyncio.create_task(self._run(), name="review-player")
            self._event("play", frame=self.frame, speed=self.speed)
        await self._announce(self.status())

    async def pause(self, at: int | None = None) -> None:
        async with self._commands:
            if self.media is None:
                return
            was_playing = self.playing
            await self._stop_task()
            target = (
                self.frame - 1
                if (was_playing and at is None)
                else (at if at is not None else self.frame)
            )
            await self._hold(max(0, min(target, len(self.media.index) - 1)))
            self.pause_request = None
            self._event("pause", frame=self.frame)
        await self._announce(self.status())

    async def seek(self, frame: int) -> None:
        async with self._commands:
            if self.media is None:
                return
            await self._stop_task()
            await self._hold(max(0, min(frame, len(self.media.index) - 1)))
            self._event("seek", frame=self.frame)
        await self._announce(self.status())

    async def step(self, delta: int) -> None:
        current = self.frame - 1 if self.playing else self.frame
        await self.seek(current + delta)

    async def set_speed(self, speed: float) -> None:
        if speed not in SPEEDS:
            raise ValueError("speed must be 0.25, 0.5 or 1")
        self.speed = speed
        self._event("speed", speed=speed)
        await self._announce(self.status())

    async def set_loop(self, loop: bool) -> None:
        self.loop = loop
        self._event("loop", loop=loop)
        await self._announce(self.status())

    async def request_pause(self, by: str) -> None:
        """The family asks to stop on what they see now; the practitioner may accept."""
        seen = self.frame - 1 if self.playing else self.frame
        self.pause_request = {"frame": max(seen, 0), "by": by, "at": time.time()}
        self._event("pause-request", frame=max(seen, 0))
        await self._announce(self.status())

    async def answer_pause_request(self, accept: bool) -> None:
        request = self.pause_request
        self.pause_request = None
        if request is not None and accept:
            await self.pause(at=int(request["frame"]))
        else:
            await self._announce(self.status())

    # -- sending ----------------------------------------------------------------------------
    async def _run(self) -> None:
        """Send frames at their pace from self.frame on, until paused or the clip ends."""
        media, codec = self.media, self.codec
        assert media is not None and codec is not None
        times = media.times_ms()
        start_frame, start_wall, speed = self.frame, time.monotonic(), self.speed
        last_state = start_wall
        sound = self._sound()
        audio_at = [0] * len(sound)
        try:
            while self.playing:
                number = self.frame
                if self.speed != speed:  # a new speed runs from this frame on
                    start_frame, start_wall, speed = number, time.monotonic(), self.speed
                due = start_wall + (times[number] - times[start_frame]) / 1000 / speed
                if time.monotonic() - due > MAX_LATE_S:
                    # Fell behind (a busy machine): carry on from now rather than send a burst.
                    start_frame, start_wall, due = number, time.monotonic(), time.monotonic()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self._main.send(number)
                if self.recorded is not None:
                    await self.recorded.at(times[number], playing=True)
                if self.speed == 1.0:
                    end = times[number + 1] if number + 1 < len(times) else times[number] + 40
                    for i, (audio_out, audio_media) in enumerate(sound):
                        audio_at[i] = self._send_audio(
                            audio_out, audio_media, times[number], end, audio_at[i]
                        )
                if number + 1 < len(media.index):
                    self.frame = number + 1
                elif self.loop:
                    self.frame, start_frame, start_wall = 0, 0, time.monotonic()
                    audio_at = [0] * len(sound)
                else:
                    self.playing = False
                    self.frame = number
                    self._main.playing_ended()
                    self._event("end", frame=number)
                    await self._announce(self.status())
                if time.monotonic() - last_state > STATE_INTERVAL_S:
                    last_state = time.monotonic()
                    await self._announce(self.status())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the player stopped")
            self.playing = False

    def _sound(self) -> list[tuple[tuple[Any, int], ClipMedia]]:
        """What plays sound at 1x: the clip, or each camera of a recorded review."""
        if self.recorded is not None:
            return [(self._audio_out(p), m) for p, m in self.recorded.audio]
        return [(self._audio_out(PLAYER), self.media)] if self.media is not None else []

    def _send_audio(
        self, out: tuple[Any, int], media: ClipMedia, from_ms: float, to_ms: float, cursor: int
    ) -> int:
        feed, generation = out
        while cursor < len(media.audio) and media.audio[cursor][0] < to_ms:
            pts_ms, data = media.audio[cursor]
            if pts_ms >= from_ms:
                frame = EncodedFrame("opus", data, self._pts(AUDIO_TB), AUDIO_TB, True)
                feed.publish(generation, frame)
            cursor += 1
        return cursor

    async def _hold(self, number: int) -> None:
        """Show exactly frame `number` (and, of a recorded review, the same moment of the other
        camera and of the clip), sharp, on every screen."""
        self.frame, self.playing = number, False
        if self.recorded is not None and self.media is not None:
            moment = self.media.times_ms()[number]
            await asyncio.gather(self._main.hold(number), self.recorded.at(moment, playing=False))
        else:
            await self._main.hold(number)

    def _camera_out(self, publisher: str) -> VideoOut:
        """The video feed a recorded review's camera is played on (made once, kept)."""
        name = recorded_camera_feed(publisher)
        if name not in self._outs:
            self._outs[name] = VideoOut(self.room.feed(name, "video"), self.out_codec, self._t0)
        return self._outs[name]

    def _audio_out(self, publisher: str) -> tuple[Any, int]:
        if publisher not in self._audio_outs:
            feed = self.room.feed(
                publisher if publisher == PLAYER else recorded_camera_feed(publisher), "audio"
            )
            self._audio_outs[publisher] = (feed, feed.serve(self._no_keyframes))
        return self._audio_outs[publisher]

    def _pts(self, time_base: Fraction) -> int:
        return int((time.monotonic() - self._t0) / time_base)

    async def _no_keyframes(self) -> None:
        return None

    async def _stop_task(self) -> None:
        self.playing = False
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _event(self, action: str, **detail: Any) -> None:
        for sink in self.events:
            sink(action, detail)
