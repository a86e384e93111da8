"""One video feed the player sends into the call (the clip, or one camera of a recorded review).

While frames follow each other it sends the source's own packets; a hold is one sharp keyframe
of exactly that frame, sent again until it is replaced (a viewer who lost it, or joins, gets
it); after a hold, or a jump, or a viewer asking for a keyframe mid-group, frames are encoded
again until the next original keyframe lets the source's packets follow.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from typing import Any

from vigremote.media.passthrough import EncodedFrame
from vigremote.review.clipmedia import ClipCodec, ClipMedia

VIDEO_TB = Fraction(1, 90000)
# A held picture is sent again after these delays (then every 5 s): a viewer whose first
# packets were lost while connecting, or who lost one, gets it without having to ask.
HOLD_REFRESH_S = (0.3, 0.7, 1.5, 3.0)
# A follower more than this many frames behind jumps (re-encoding) instead of sending each.
MAX_CATCH_UP_FRAMES = 8


class VideoOut:
    def __init__(self, feed: Any, out_codec: str, t0: float) -> None:
        self.out_codec = out_codec
        self.media: ClipMedia | None = None
        self.codec: ClipCodec | None = None
        self.sent: int | None = None  # the source's frame on screen now (None: none, or a still)
        self.held: bytes | None = None  # the picture held on screen, sent again until replaced
        self._feed = feed
        self._generation = feed.serve(self._keyframe_requested)
        self._t0 = t0
        self._in_sync = False  # viewers' decoders follow the source's own packets
        self._force_keyframe = False
        self._refresher: asyncio.Task[None] | None = None
        self._following: asyncio.Future[None] | None = None

    def show(self, media: ClipMedia | None, codec: ClipCodec | None) -> None:
        """A new source: nothing of it is on screen yet."""
        self.media, self.codec, self.sent = media, codec, None
        self._in_sync, self._force_keyframe = False, True

    async def hold(self, number: int) -> None:
        """Show exactly frame `number` of the source, sharp, on every screen."""
        assert self.codec is not None
        self.held = None  # the picture on screen is being replaced: stop sending it again
        self.hold_bytes(await asyncio.to_thread(self.codec.hold, number))
        self.sent = number

    def hold_bytes(self, data: bytes) -> None:
        """Show this keyframe (a hold, a still, a blank) until something replaces it."""
        self.held = data
        self.sent = None
        self._in_sync, self._force_keyframe = False, False
        self._publish(data, True)
        if self._refresher is not None:
            self._refresher.cancel()
        self._refresher = asyncio.create_task(self._refresh(data), name="review-hold")

    async def send(self, number: int) -> None:
        """Frame `number` while playing: its own packet when viewers can decode it, else
        encoded again (a keyframe after a hold, a jump or a request)."""
        media, codec = self.media, self.codec
        assert media is not None and codec is not None
        original_key = number in media.index.keyframes
        jump = self.sent is not None and number != self.sent + 1
        if self._force_keyframe or (jump and self._in_sync and not original_key):
            self._force_keyframe, self._in_sync = False, False
            data, key = await asyncio.to_thread(codec.continue_from, number, True), True
        elif media.codec == self.out_codec and (original_key or (self._in_sync and not jump)):
            self._in_sync = True
            data, key = media.video[number], original_key
            if self._following is None or self._following.done():
                # One shadow decode at a time (follow catches up in one go when it runs).
                self._following = asyncio.get_running_loop().run_in_executor(
                    None, codec.follow, number
                )
        else:  # follows the frames encoded before (a keyframe after a hold)
            self._in_sync = False
            data, key = await asyncio.to_thread(codec.continue_from, number), False
        self.held = None
        self.sent = number
        self._publish(data, key)

    async def advance_to(self, number: int) -> None:
        """A follower (the second camera, the recorded clip) moves on to `number`: each frame
        in between if they are few, else a jump to it."""
        if self.sent == number:
            return
        if (
            self.sent is not None
            and self.held is None
            and 0 < number - self.sent <= MAX_CATCH_UP_FRAMES
        ):
            for step in range(self.sent + 1, number + 1):
                await self.send(step)
        else:
            await self.send(number)

    def resume_as_sent(self, held: int) -> None:
        """Playing on from a held original keyframe (as every clip's first frame is): send its
        original packet again, so that the source's own packets can follow and nothing needs
        encoding until the next hold."""
        media = self.media
        if media is None or media.codec != self.out_codec or held not in media.index.keyframes:
            return
        self.held = None
        self._publish(media.video[held], True)
        self.sent = held
        self._in_sync, self._force_keyframe = True, False

    def playing_ended(self) -> None:
        """The last frame stays on screen as sent: no need to send it again."""
        self.held = None

    async def close(self) -> None:
        self.held = None
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)
        if self._following is not None:  # shadow decoding in a thread: let it finish
            await asyncio.gather(self._following, return_exceptions=True)

    async def _refresh(self, data: bytes) -> None:
        delays = list(HOLD_REFRESH_S)
        while self.held is data:
            await asyncio.sleep(delays.pop(0) if delays else 5.0)
            if self.held is data:
                self._publish(data, True)

    def _publish(self, data: bytes, keyframe: bool) -> None:
        pts = int((time.monotonic() - self._t0) / VIDEO_TB)
        self._feed.publish(
            self._generation, EncodedFrame(self.out_codec, data, pts, VIDEO_TB, keyframe)
        )

    async def _keyframe_requested(self) -> None:
        """A viewer joined or lost pictures: resend the held picture, or make a keyframe."""
        if self.held is not None:
            self._publish(self.held, True)
        elif self.sent is not None:
            self._force_keyframe = True
