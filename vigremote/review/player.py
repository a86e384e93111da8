"""The player: a system participant of a review room that plays clips into the call.

Every participant receives the player's feeds ("player"/video and audio) on their clip slot.
Playing sends the clip's own packets, paced by the wall clock and the speed; audio only at 1×.
A hold (pause, seek, step, a still) sends one sharp keyframe of exactly that frame, so every
screen shows the same picture; it is sent again to anyone who joins or asks for a keyframe.
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
    ReviewPlayState,
    ReviewState,
    ServerMessage,
)
from vigremote.review.clipmedia import ClipCodec, ClipMedia, blank_keyframe, still_keyframe
from vigremote.rooms import PLAYER, Room
from vigremote.vault.files import Vault

log = logging.getLogger(__name__)

VIDEO_TB = Fraction(1, 90000)
AUDIO_TB = Fraction(1, 48000)
SPEEDS = (0.25, 0.5, 1.0)
STATE_INTERVAL_S = 1.0
MAX_LATE_S = 0.3
# A held picture is sent again after these delays (then every 5 s): a viewer whose first
# packets were lost while connecting, or who lost one, gets it without having to ask.
HOLD_REFRESH_S = (0.3, 0.7, 1.5, 3.0)
WITHDRAWN_NOTICE = "Consent to show this clip was taken back, so it is no longer shown."


@dataclass(frozen=True)
class Item:
    """A playlist entry the player can show: a clip file or a still picture."""

    kind: str  # "clip" | "still"
    id: str
    title: str
    path: Path
    first_frame: int = 0  # the clip's first frame number in its recording (for the notes)
    # The consent purposes that must all hold for it to be shown (consent/policy.py).
    needs: frozenset[str] = frozenset()


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
        self._held: bytes | None = None
        self._in_sync = False  # viewers' decoders follow the original packets
        self._force_keyframe = False
        self._task: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._following: asyncio.Future[None] | None = None
        self._t0 = time.monotonic()
        self._video = room.feed(PLAYER, "video")
        self._audio = room.feed(PLAYER, "audio")
        self._generation = self._video.serve(self._keyframe_requested)
        self._audio_generation = self._audio.serve(self._no_keyframes)
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

    def receive(self, message: ServerMessage) -> None:
        """Room broadcasts: when a recording starts, note what is on screen right now, so a
        replay of the recording knows which clip and frame it opens on."""
        recording_now = message.get("type") == "recording" and message.get("state") == "recording"
        if recording_now and not self._recording_seen and 0 <= self.index < len(self.items):
            item = self.items[self.index]
            self._event("select", item=self.index, kind=item.kind, id=item.id)
            if self.playing:
                self._event("play", frame=self.frame, speed=self.speed)
            elif item.kind == "clip":
                self._event("seek", frame=self.frame)
        if message.get("type") == "recording":
            self._recording_seen = message.get("state") in ("recording", "paused")

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
                self._hold_bytes(picture)
                self._event("removed", kind=showing.kind, id=showing.id)
        await self._announce(self.status())

    async def close(self) -> None:
        await self._stop_task()
        self._held = None
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)
        if self._following is not None:  # shadow decoding in a thread: let it finish
            await asyncio.gather(self._following, return_exceptions=True)

    def status(self) -> ReviewState:
        item = self.items[self.index] if 0 <= self.index < len(self.items) else None
        frames = len(self.media.index) if self.media and item and item.kind == "clip" else 0
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
            if item.kind == "still":
                self.media, self.codec = None, None
                picture = await asyncio.to_thread(
                    still_keyframe, self.vault, item.path, self.out_codec
                )
                self._hold_bytes(picture)
            else:
                self.media = await asyncio.to_thread(ClipMedia.load, self.vault, item.path)
                self.codec = ClipCodec(self.media, self.out_codec)
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
                self._resume_as_sent(self.frame)
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
        audio_at = 0
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
                await self._send_frame(number)
                if self.speed == 1.0:
                    end = times[number + 1] if number + 1 < len(times) else times[number] + 40
                    audio_at = self._send_audio(media, times[number], end, audio_at)
                if number + 1 < len(media.index):
                    self.frame = number + 1
                elif self.loop:
                    self.frame, start_frame, start_wall, audio_at = 0, 0, time.monotonic(), 0
                else:
                    self.playing = False
                    self.frame = number
                    self._held = None
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

    async def _send_frame(self, number: int) -> None:
        media, codec = self.media, self.codec
        assert media is not None and codec is not None
        original_key = number in media.index.keyframes
        if self._force_keyframe:
            self._force_keyframe, self._in_sync = False, False
            data, key = await asyncio.to_thread(codec.continue_from, number, True), True
        elif media.codec == self.out_codec and (self._in_sync or original_key):
            self._in_sync = True
            data, key = media.video[number], original_key
            if self._following is None or self._following.done():
                # One shadow decode at a time (follow catches up in one go when it runs).
                self._following = asyncio.get_running_loop().run_in_executor(
                    None, codec.follow, number
                )
        else:
            data, key = await asyncio.to_thread(codec.continue_from, number), False
        self._held = None
        self._publish_video(data, key)

    def _send_audio(self, media: ClipMedia, from_ms: float, to_ms: float, cursor: int) -> int:
        while cursor < len(media.audio) and media.audio[cursor][0] < to_ms:
            pts_ms, data = media.audio[cursor]
            if pts_ms >= from_ms:
                frame = EncodedFrame("opus", data, self._pts(AUDIO_TB), AUDIO_TB, True)
                self._audio.publish(self._audio_generation, frame)
            cursor += 1
        return cursor

    def _resume_as_sent(self, held: int) -> None:
        """Playing on from a held original keyframe (as every clip's first frame is): send its
        original packet again, so that the clip's own packets can follow and nothing needs
        encoding until the next hold."""
        media = self.media
        if media is None or media.codec != self.out_codec or held not in media.index.keyframes:
            return
        self._held = None
        self._publish_video(media.video[held], True)
        self._in_sync = True

    async def _hold(self, number: int) -> None:
        """Show exactly frame `number`, sharp, on every screen."""
        assert self.codec is not None
        self.frame, self.playing = number, False
        self._in_sync = False
        self._held = None  # the picture on screen is being replaced: stop sending it again
        self._hold_bytes(await asyncio.to_thread(self.codec.hold, number))

    def _hold_bytes(self, data: bytes) -> None:
        self._held = data
        self._in_sync = False
        self._publish_video(data, True)
        if self._refresher is not None:
            self._refresher.cancel()
        self._refresher = asyncio.create_task(self._refresh(data), name="review-hold")

    async def _refresh(self, data: bytes) -> None:
        delays = list(HOLD_REFRESH_S)
        while self._held is data:
            await asyncio.sleep(delays.pop(0) if delays else 5.0)
            if self._held is data:
                self._publish_video(data, True)

    def _publish_video(self, data: bytes, keyframe: bool) -> None:
        frame = EncodedFrame(self.out_codec, data, self._pts(VIDEO_TB), VIDEO_TB, keyframe)
        self._video.publish(self._generation, frame)

    def _pts(self, time_base: Fraction) -> int:
        return int((time.monotonic() - self._t0) / time_base)

    async def _keyframe_requested(self) -> None:
        """A viewer joined or lost pictures: resend the held picture, or make a keyframe."""
        if self._held is not None:
            self._publish_video(self._held, True)
        elif self.playing:
            self._force_keyframe = True

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
