"""A clip held in memory as packets, and the codec work the player does only when unavoidable.

Playing a clip sends its packets as they are. The decoder and encoder here are used for:
- a hold (pause, seek, step): one sharp keyframe of exactly that frame;
- resuming after a hold, or a viewer asking for a keyframe mid-group: the frames up to the
  next original keyframe, encoded again (a keyframe, then frames that follow it) at about the
  clip's own quality: only a held picture needs to be sharp;
- a still, or a clip whose codec the viewers' browsers did not negotiate.
The decoder follows playback ("shadow" decoding, once for all viewers) so that a pause needs
at most one more frame decoded, and the last pictures decoded are kept (RECENT_PICTURES_BYTES)
so that a step back, or a seek near the last one, needs none. All methods block and share one
lock: call them in a thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigremote.clips.frames import FrameIndex, index_video
from vigremote.vault.files import Vault

_ENCODERS = {"VP8": "libvpx", "H264": "libx264"}
_DECODERS = {"vp8": "vp8", "h264": "h264"}
# Decoded pictures kept per clip on screen (at least MIN_RECENT_PICTURES): 24 MB is the last
# 52 frames at 640x480, 17 at 1280x720. 0 keeps none (every step back decodes from a keyframe).
RECENT_PICTURES_BYTES = 24 * 1024 * 1024
MIN_RECENT_PICTURES = 4
# Frames re-encoded while playing: at the clip's own bit rate, within these bounds.
PLAYING_BIT_RATE = (300_000, 4_000_000)
# A held picture's VP8 quantizers (0-127): at 8 it is still visually lossless (PSNR ~49 dB on
# the numbered test video) and half the size it is at 0 (58 dB): 1280x720, 58 KB instead of
# 108 KB, 80 fewer packets to encrypt and send to every viewer, and less for a phone to fetch.
HOLD_QUANTIZERS = (8, 12)


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

    def bit_rate(self) -> int:
        """The video's average bit rate (bits per second)."""
        times = self.times_ms()
        seconds = (times[-1] - times[0]) / 1000 if len(times) > 1 else 0.0
        size = sum(len(frame) for frame in self.video)
        return int(size * 8 / seconds) if seconds > 0 else PLAYING_BIT_RATE[1]

    @classmethod
    def load(cls, vault: Vault, path: Path) -> ClipMedia:
        index = index_video(vault, path)
        position = {pts: number for number, pts in enumerate(index.pts)}
        video: list[bytes] = [b""] * len(index)
        audio: list[tuple[int, bytes]] = []
        with vault.open(path) as sealed, av.open(sealed, "r") as container:
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
        self._encoder: Any = None  # what frames re-encoded while playing follow (None: a hold)
        self._pts = 0
        self._recent: OrderedDict[int, Any] = OrderedDict()  # frame number -> picture
        self._recent_max = MIN_RECENT_PICTURES
        low, high = PLAYING_BIT_RATE
        self._bit_rate = max(low, min(high, media.bit_rate()))

    def _remember(self, number: int, picture: Any) -> None:
        if RECENT_PICTURES_BYTES <= 0:
            return
        if not self._recent:
            size = max(1, picture.width * picture.height * 3 // 2)
            self._recent_max = max(MIN_RECENT_PICTURES, RECENT_PICTURES_BYTES // size)
        self._recent[number] = picture
        self._recent.move_to_end(number)
        while len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)

    def _decode(self, frame: int) -> Any:
        """Frame `frame` decoded: kept from before, or continuing from the last one decoded when
        no keyframe lies between, or from the keyframe before it."""
        kept = self._recent.get(frame)
        if kept is not None:
            self._recent.move_to_end(frame)
            return kept
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
            produced = None
            for decoded in self._decoder.decode(av.Packet(data)):
                produced = self._last = decoded
            if produced is not None:
                self._remember(number, produced)
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
        """One sharp keyframe of exactly this frame (frames played after it start with a
        keyframe of their own)."""
        with self._lock:
            picture = self._decode(frame)
            self._encoder = None
            return _encode(_sharp_encoder(self.out_codec, picture.width, picture.height), picture)

    def continue_from(self, frame: int, keyframe: bool = False) -> bytes:
        """Frame `frame` encoded while playing: a keyframe after a hold (or when asked), else a
        frame that follows the one encoded before (until an original keyframe)."""
        with self._lock:
            picture = self._decode(frame)
            if self._encoder is None or keyframe:
                self._encoder = _playing_encoder(
                    self.out_codec, picture.width, picture.height, self._bit_rate
                )
                self._pts = 0
                return self._encode(picture, keyframe=True)
            return self._encode(picture, keyframe=False)

    def _encode(self, picture: Any, keyframe: bool) -> bytes:
        data = _encode(self._encoder, picture, self._pts, keyframe)
        self._pts += 33
        return data


def _playing_encoder(out_codec: str, width: int, height: int, bit_rate: int) -> Any:
    encoder: Any = av.CodecContext.create(_ENCODERS[out_codec], "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 1000)
    encoder.thread_count = 1
    encoder.bit_rate = bit_rate
    if out_codec == "VP8":
        encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    else:
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    return encoder


def still_keyframe(vault: Vault, png: Path, out_codec: str) -> bytes:
    """A still picture as one sharp keyframe (blocking)."""
    with vault.open(png) as sealed, av.open(sealed, "r") as container:
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
        lowest, highest = HOLD_QUANTIZERS
        encoder.bit_rate = 8_000_000
        encoder.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "crf": str(lowest),
            "qmin": str(lowest),
            "qmax": str(highest),
        }
    else:
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "14"}
    return encoder


def _encode(encoder: Any, picture: Any, pts: int = 0, keyframe: bool = True) -> bytes:
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
