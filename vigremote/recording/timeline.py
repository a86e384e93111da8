"""One recorded person's place on the recording's timeline: frame placement and lost frames.

Each frame is placed from its own RTP time, anchored at the first frame's capture time, so
audio and video stay in step (lip-sync) and a stretch of lost video leaves a hole instead of
shifting what follows. Frames lost within one connection (e.g. the receive buffer overflowed
while the event loop was blocked) are noticed here, so the recorder restarts at a keyframe and
marks the hole; it owns the files and the marks, this module only the arithmetic.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque

from vigremote.media.passthrough import EncodedFrame
from vigremote.recording.writer import SegmentWriter, starts_cleanly

log = logging.getLogger(__name__)

# aiortc 1.16 holds frames in its jitter buffers before we see them: audio until 4 more packets
# have arrived (prefetch=4, 20 ms Opus packets), video until the next frame starts. Subtracting
# these holds from the arrival time puts audio and video on one timeline (lip-sync).
AUDIO_HOLD_MS = 80
DEFAULT_VIDEO_HOLD_MS = 33
# A step in a feed's video RTP time this much over its usual frame interval means frames were
# lost: restart at a keyframe, so no frame that refers to a lost one is written; mark holes of
# HOLE_MARK_MS or more. Smaller steps are a busy browser skipping frames (nothing is missing);
# smaller losses show as the tail of a frame (see writer.starts_cleanly).
HOLE_FACTOR = 8.0
HOLE_MIN_MS = 500
HOLE_MARK_MS = 250


class Track:
    """One publisher's part of the recording: its file, its keyframe and gap bookkeeping."""

    def __init__(self, publisher: str) -> None:
        self.publisher = publisher
        self.writer: SegmentWriter | None = None
        self.codec: str | None = None
        self.need_keyframe = True
        self.first_interval_pending = False
        self.video_generation: int | None = None
        self.last_video_ms: int | None = None
        self.anchors: dict[tuple[str, int], tuple[int, int, float]] = {}
        self.last_video_pts: int | None = None  # RTP time of the last video frame seen
        self.video_steps: deque[float] = deque(maxlen=15)  # recent frame intervals, ms
        self.hole_from_ms: int | None = None  # where the picture stopped, while a hole is open
        self.left_at_ms: int | None = None  # when they left the call, while they are away
        self.return_marked = False  # their return is marked: no second gap at the new source

    def place(self, kind: str, generation: int, frame: EncodedFrame, now_ms: int) -> int:
        """Map the frame's RTP time to the timeline, anchored at the first frame's capture time.

        The capture time is estimated as arrival (`now_ms`) minus the jitter buffer's hold; for
        video the hold is one frame interval, refined when the second frame shows the real
        frame rate.
        """
        key = (kind, generation)
        anchor = self.anchors.get(key)
        tick = float(frame.time_base)
        if anchor is None:
            hold = AUDIO_HOLD_MS if kind == "audio" else DEFAULT_VIDEO_HOLD_MS
            anchor = (now_ms - hold, frame.pts, tick)
            self.anchors[key] = anchor
            self.first_interval_pending = kind == "video"
        elif kind == "video" and self.first_interval_pending:
            self.first_interval_pending = False
            interval_ms = int((frame.pts - anchor[1]) * tick * 1000)
            if 0 < interval_ms < 200:
                anchor = (anchor[0] + DEFAULT_VIDEO_HOLD_MS - interval_ms, anchor[1], tick)
                self.anchors[key] = anchor
        start_ms, start_pts, seconds_per_tick = anchor
        return max(0, start_ms + int((frame.pts - start_pts) * seconds_per_tick * 1000))

    def forget_steps(self) -> None:
        """A new video source (the browser reconnected): its frame steps start afresh."""
        self.last_video_pts, self.hole_from_ms = None, None
        self.video_steps.clear()

    def find_hole(self, generation: int, frame: EncodedFrame) -> None:
        """Frames lost within one connection show as a jump in the video's RTP time (audio,
        placed from its own RTP time, is not shifted by it) or as a frame that does not start
        like one (the tail of a frame whose first packets were lost): restart at a keyframe."""
        previous, self.last_video_pts = self.last_video_pts, frame.pts
        if previous is None or ("video", generation) not in self.anchors:
            return  # nothing placed yet, or since a resume: no hole to speak of
        step_ms = (frame.pts - previous) * float(frame.time_base) * 1000
        usual = statistics.median(self.video_steps) if self.video_steps else 1000 / 30
        jumped = step_ms > max(HOLE_MIN_MS, HOLE_FACTOR * usual)
        if not jumped and starts_cleanly(frame.codec, frame.data):
            if step_ms > 0:
                self.video_steps.append(step_ms)
            return
        if self.hole_from_ms is None and self.last_video_ms is not None:
            self.hole_from_ms = self.last_video_ms + round(usual)
        self.need_keyframe = True
        log.warning("recording: %s's video lost packets (%.0f ms step)", self.publisher, step_ms)

    def close_hole(self, pts_ms: int) -> tuple[int, int] | None:
        """The picture is back after a hole: where it was missing, if long enough to mark."""
        start, self.hole_from_ms = self.hole_from_ms, None
        if start is not None and pts_ms - start >= HOLE_MARK_MS:
            return start, pts_ms
        return None
