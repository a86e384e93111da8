"""Tap encoded frames at aiortc's decoder hook instead of decoding them.

aiortc (pinned to 1.16 in pyproject.toml) has no public API for received encoded frames
(aiortc#984). Its receiver assembles each frame in a jitter buffer and hands
`(codec, JitterFrame)` to a decoder thread, which asks the module-level
`aiortc.rtcrtpreceiver.get_decoder(codec)` for a decoder. We replace that one function (through
aiortc_compat, which checks it is still there) with a factory whose "decoder" returns the
encoded frame unchanged, so every remote track yields `EncodedFrame`s. This is process-wide,
which suits a server that never wants decoded video on its hot path; the price is that aiortc
no longer sends a PLI on decode errors, so feeds ask for keyframes themselves.

The server's own receivers skip the decoder thread as well (`tap_on_loop`): with nothing to
decode, handing every frame to a thread and back cost more than all the rest of a recorded
session: without it one worker holds about 1.7 times as many (bench/scale.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from vigremote.media import aiortc_compat


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One complete encoded frame as the browser sent it."""

    codec: str  # "VP8", "H264" or "opus" (aiortc's codec names)
    data: bytes
    pts: int  # RTP timestamp, rebased by aiortc to start near 0
    time_base: Fraction
    keyframe: bool


def is_keyframe(codec: str, data: bytes) -> bool:
    """True if a decoder can start at this frame (audio frames always can)."""
    name = codec.upper()
    if name == "VP8":
        # RFC 6386 9.1: bit 0 of the frame tag is 0 for key frames, followed by a start code.
        return len(data) >= 6 and (data[0] & 0x01) == 0 and data[3:6] == b"\x9d\x01\x2a"
    if name == "H264":
        return _h264_has_idr(data)
    return True


def _h264_has_idr(data: bytes) -> bool:
    """Scan an Annex-B access unit for an IDR slice (NAL type 5)."""
    start = 0
    while True:
        index = data.find(b"\x00\x00\x01", start)
        if index < 0 or index + 3 >= len(data):
            return False
        if data[index + 3] & 0x1F == 5:
            return True
        start = index + 3


class _PassthroughDecoder:
    def __init__(self, codec_name: str, clock_rate: int) -> None:
        self._codec = codec_name
        self._time_base = Fraction(1, clock_rate)

    def decode(self, encoded_frame: Any) -> list[EncodedFrame]:
        data = bytes(encoded_frame.data)
        return [
            EncodedFrame(
                codec=self._codec,
                data=data,
                pts=int(encoded_frame.timestamp),
                time_base=self._time_base,
                keyframe=is_keyframe(self._codec, data),
            )
        ]


def _passthrough_decoder_factory(codec: Any) -> _PassthroughDecoder:
    return _PassthroughDecoder(codec.name, codec.clockRate)


def tap_on_loop(receiver: Any) -> None:
    """This receiver's frames, as EncodedFrames, straight from its jitter buffer on the event
    loop (no decoder thread between: one handoff less per frame)."""
    aiortc_compat.decode_on_loop(receiver, _passthrough_decoder_factory)


def install() -> None:
    """Make every aiortc receiver in this process yield EncodedFrames (idempotent)."""
    aiortc_compat.set_decoder_factory(_passthrough_decoder_factory)


def installed() -> bool:
    return aiortc_compat.decoder_factory() is _passthrough_decoder_factory
