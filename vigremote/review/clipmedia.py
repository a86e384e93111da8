"""A clip held in memory as packets, and the codec work the player does only when unavoidable.

Playing a clip sends its packets as they are. The decoder and encoder here are used for:
- a hold (pause, seek, step): one sharp keyframe of exactly that frame;
- resuming after a hold, or a viewer asking for a keyframe mid-group: the frames up to the
  next original keyframe, encoded to follow our keyframe;
- a still, or a clip whose codec the viewers' browsers did not negotiate.
The decoder follows playback ("shadow" decoding, once for all viewers) so that a pause needs
at most one more frame decoded. All methods block and share one lock: call them in a thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigremote.clips.frames import FrameIndex, index_video

_ENCODERS = {"VP8": "libvpx", "H264": "libx264"}
_DECODERS = {"vp8": "vp8", "h264": "h264"}


@dataclass
class ClipMedia:
    path: Path
    index: FrameIndex
    video: list[bytes]  # one encoded frame per frame number
    audio: list[tuple[int, bytes]]  # (pts in ms, Opus packet)
    extradata: bytes | None

    @property
    def codec(self) -> str:
        """The codec in aiortc's naming ("VP8", "H264")."""
        return "VP8" if self.index.codec == "vp8" else "H264"

    def times_ms(self) -> list[float]:
        return [float(p * self.index.time_base) * 1000 for p in self.index.pts]

    @classmethod
    def load(cls, path: Path) -> ClipMedia:
        index = index_video(path)
        position = {pts: number for number, pts in enumerate(index.pts)}
        video: list[bytes] = [b""] * len(index)
        audio: list[tuple[int, bytes]] = []
        with av.open(str(path)) as container:
            video_stream = container.streams.video[0]
            extradata = bytes(video_stream.codec_context.extradata or b"") or None
            for packet in container.demux():
                if packet.pts is None or packet.size == 0:
                    continue
                if packet.stream.type == "video" and packet.pts in position:
                    video[position[packet.pts]] = bytes(packet)
                elif packet.stream.type == "audio" and packet.time_base is not None:
                    audio.append((int(packet.pts * packet.time_base * 1000), bytes(packet)))
        if index.codec == "h264":
            video = [_avcc_to_annexb(v) for v in video]  # aiortc sends Annex-B only
        return cls(path, index, video, audio, extradata)


def _avcc_to_annexb(data: bytes) -> bytes:
    """4-byte length-prefixed NAL units (as stored in Matroska) to Annex-B start codes."""
    if data[:4] in (b"\x00\x00\x00\x01",) or data[:3] == b"\x00\x00\x01":
        return data
    out, offset = [], 0
    while offset + 4 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        out.append(b"\x00\x00\x00\x01" + data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return b"".join(out)


class ClipCodec:
    """Decodes the clip's frames in order and encodes the few the player must make itself."""

    def __init__(self, media: ClipMedia, out_codec: str) -> None:
        self.media = media
        self.out_codec = out_codec
        self._lock = threading.Lock()
        self._decoder: Any = None
        self._position: int | None = None
        self._last: Any = None
        self._encoder: Any = None

    def _decode(self, frame: int) -> Any:
        """Frame `frame` decoded, continuing from the last one when no keyframe lies between."""
        keyframes = self.media.index.keyframes
        start = self.media.index.keyframe_at_or_before(frame)
        if self._position is None or not (start <= self._position <= frame):
            self._decoder = av.CodecContext.create(_DECODERS[self.media.index.codec], "r")
            self._position, self._last = start - 1, None
        assert self._position is not None
        for number in range(self._position + 1, frame + 1):
            data = self.media.video[number]
            if number == start and self.media.index.codec == "h264":
                data = _parameter_sets(self.media.extradata) + data
            for decoded in self._decoder.decode(av.Packet(data)):
                self._last = decoded
            self._position = number
        if self._last is None:
            raise ValueError(f"frame {frame} could not be decoded (keyframes: {keyframes[:3]}…)")
        return self._last

    def follow(self, frame: int) -> None:
        """Shadow decoding during passthrough playback, so a pause is quick.

        Skipped while another job holds the codec: the next call catches up in one go, so
        stale requests never queue up in front of a pause.
        """
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._position is None or self._position < frame:
                self._decode(frame)
        finally:
            self._lock.release()

    def hold(self, frame: int) -> bytes:
        """One sharp keyframe of exactly this frame; later frames will follow it."""
        with self._lock:
            picture = self._decode(frame)
            self._encoder = self._new_encoder(picture.width, picture.height)
            return self._encode(picture, keyframe=True)

    def continue_from(self, frame: int) -> bytes:
        """The next frame, encoded to follow our last keyframe (until an original one)."""
        with self._lock:
            picture = self._decode(frame)
            if self._encoder is None:
                self._encoder = self._new_encoder(picture.width, picture.height)
                return self._encode(picture, keyframe=True)
            return self._encode(picture, keyframe=False)

    def _new_encoder(self, width: int, height: int) -> Any:
        self._pts = 0
        return _sharp_encoder(self.out_codec, width, height)

    def _encode(self, picture: Any, keyframe: bool) -> bytes:
        data = _encode(self._encoder, picture, self._pts, keyframe)
        self._pts += 33
        return data


def still_keyframe(png: Path, out_codec: str) -> bytes:
    """A still picture as one sharp keyframe (blocking)."""
    with av.open(str(png)) as container:
        picture = next(container.decode(video=0))
    width, height = picture.width - picture.width % 2, picture.height - picture.height % 2
    picture = picture.reformat(width=width, height=height)
    return _encode(_sharp_encoder(out_codec, width, height), picture, 0, keyframe=True)


def blank_keyframe(out_codec: str, size: tuple[int, int] | None = None) -> bytes:
    """A black picture as one keyframe: what screens show once a clip is taken off (blocking)."""
    width, height = size or (640, 480)
    width, height = max(2, width - width % 2), max(2, height - height % 2)
    picture = av.VideoFrame(width, height, "yuv420p")
    for plane, value in zip(picture.planes, (16, 128, 128), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    return _encode(_sharp_encoder(out_codec, width, height), picture, 0, keyframe=True)


def _sharp_encoder(out_codec: str, width: int, height: int) -> Any:
    encoder: Any = av.CodecContext.create(_ENCODERS[out_codec], "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 1000)
    encoder.thread_count = 1  # a second thread only waits on the first at this size
    if out_codec == "VP8":
        # Sharp: the family looks at this picture for as long as the practitioner talks.
        encoder.bit_rate = 8_000_000
        encoder.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "crf": "4",
            "qmin": "0",
            "qmax": "12",
        }
    else:
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "14"}
    return encoder


def _encode(encoder: Any, picture: Any, pts: int, keyframe: bool) -> bytes:
    image = picture.reformat(format="yuv420p")
    image.pts = pts
    image.time_base = Fraction(1, 1000)
    image.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
    return b"".join(bytes(p) for p in encoder.encode(image))


def _parameter_sets(avcc: bytes | None) -> bytes:
    """SPS and PPS from an avcC record (Matroska's H264 header), as Annex-B NAL units."""
    if not avcc or avcc[0] != 1 or len(avcc) < 7:
        return b""
    out, offset = [], 6
    for count_mask in (0x1F, 0xFF):
        if offset >= len(avcc):
            break
        count = avcc[offset - 1] & count_mask if count_mask == 0x1F else avcc[offset]
        offset += 0 if count_mask == 0x1F else 1
        for _ in range(count):
            length = int.from_bytes(avcc[offset : offset + 2], "big")
            out.append(b"\x00\x00\x00\x01" + avcc[offset + 2 : offset + 2 + length])
            offset += 2 + length
    return b"".join(out)
