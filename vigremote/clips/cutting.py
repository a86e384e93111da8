"""Frame-accurate clips without transcoding the recording, and exact still frames.

A clip from frame `first` to frame `last` (inclusive) is made of:
- the partial group of pictures at the start (from `first` up to the next keyframe),
  decoded from the keyframe before it and re-encoded, its first frame as a keyframe;
- every later group copied as it is, up to `last`;
- the audio packets of the same time span, copied.
Browser video (VP8, constrained-baseline H264) has no B-frames, so decode order is display
order and the copied packets need no reordering. Only up to one keyframe interval (about 2 s,
which the recorder guarantees) is ever decoded and encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigremote.clips.frames import FrameIndex, cached_index
from vigremote.vault.files import Vault

MS = Fraction(1, 1000)
_ENCODERS = {"vp8": "libvpx", "h264": "libx264"}
_FORMATS = {"vp8": "webm", "h264": "matroska"}


class CutError(ValueError):
    """The requested cut is not possible (bad frame numbers, unsupported codec)."""


@dataclass(frozen=True)
class CutResult:
    frames: int
    reencoded_frames: int
    duration_s: float


def clip_extension(codec: str) -> str:
    return "webm" if codec == "vp8" else "mkv"


def cut_clip(
    vault: Vault, src: Path, dst: Path, first: int, last: int, index: FrameIndex | None = None
) -> CutResult:
    """Write frames first..last of `src` (and their audio) to `dst`, sealed; blocking, run in
    a thread."""
    index = index or cached_index(vault, src)
    if not 0 <= first <= last < len(index):
        raise CutError(f"frames must satisfy 0 <= first <= last < {len(index)}")
    if index.codec not in _ENCODERS:
        raise CutError(f"cannot cut {index.codec} video")
    copy_from = first if first in index.keyframes else index.keyframe_after(first)
    if copy_from is not None and copy_from > last:
        copy_from = None
    reencode_until = copy_from if copy_from is not None else last + 1
    start, end = index.pts[first], index.pts[last]
    tmp = dst.with_name(dst.name + ".part")
    try:
        with (
            vault.open(src) as sealed_in,
            av.open(sealed_in, "r") as source,
            vault.create_replacing(tmp) as sealed_out,
            av.open(sealed_out, "w", format=_FORMATS[index.codec]) as out,
        ):
            video_in = source.streams.video[0]
            video_out = out.add_stream_from_template(video_in)
            audio_in = source.streams.audio[0] if source.streams.audio else None
            audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
            # Packets are gathered, then written in time order: a reader that streams the clip
            # (a browser, a player) gets sound and picture together from the first second.
            pending: list[Any] = []
            reencoded = 0
            if first < reencode_until:
                reencoded = _reencode(
                    source, video_in, video_out, pending, index, first, reencode_until
                )
            copied = 0
            if copy_from is not None:
                copied = _copy(
                    source, video_in, video_out, pending, index.pts[copy_from], end, start
                )
            if audio_in is not None and audio_out is not None:
                frame_ms = _frame_ms(index, last)
                _copy(source, audio_in, audio_out, pending, start, end + frame_ms - 1, start)
            pending.sort(key=lambda p: (p.pts, 0 if p.stream.type == "video" else 1))
            for packet in pending:
                out.mux(packet)
        tmp.replace(dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return CutResult(reencoded + copied, reencoded, float((end - start) * index.time_base))


def _frame_ms(index: FrameIndex, frame: int) -> int:
    """How long `frame` is shown (to keep its audio), from its neighbours' timestamps."""
    if frame + 1 < len(index):
        return index.pts[frame + 1] - index.pts[frame]
    if frame > 0:
        return index.pts[frame] - index.pts[frame - 1]
    return 33


def _copy(
    source: Any,
    stream_in: Any,
    stream_out: Any,
    pending: list[Any],
    from_pts: int,
    to_pts: int,
    zero: int,
) -> int:
    """Take the packets of one stream with from_pts <= pts <= to_pts, rebased to start at 0."""
    source.seek(from_pts, stream=stream_in, backward=True, any_frame=stream_in.type == "audio")
    count = 0
    for packet in source.demux(stream_in):
        if packet.pts is None or packet.size == 0:
            continue
        if packet.pts > to_pts:
            break
        if packet.pts < from_pts:
            continue
        packet.pts -= zero
        packet.dts = packet.pts
        packet.stream = stream_out
        pending.append(packet)
        count += 1
    return count


def _reencode(
    source: Any,
    video_in: Any,
    video_out: Any,
    pending: list[Any],
    index: FrameIndex,
    first: int,
    until: int,
) -> int:
    """Decode from the keyframe before `first`; re-encode frames first..until-1 (exactly)."""
    keyframe = index.keyframe_at_or_before(first)
    wanted = set(index.pts[first:until])
    last_wanted = index.pts[until - 1]
    encoder = _encoder(index, video_in)
    avcc = index.codec == "h264" and bytes(video_in.codec_context.extradata or b"")[:1] == b"\x01"
    source.seek(index.pts[keyframe], stream=video_in, backward=True, any_frame=False)
    count = 0
    done = False
    for packet in source.demux(video_in):
        if packet.pts is None and packet.size == 0:
            continue
        for frame in packet.decode():
            if frame.pts is None or frame.pts not in wanted:
                if frame.pts is not None and frame.pts > last_wanted:
                    done = True
                continue
            image = frame.reformat(format="yuv420p")
            image.pts = frame.pts - index.pts[first]
            image.time_base = MS
            image.pict_type = (
                av.video.frame.PictureType.I if count == 0 else av.video.frame.PictureType.NONE
            )
            count += 1
            for encoded in encoder.encode(image):
                _mux_encoded(pending, video_out, encoded, avcc)
            done = frame.pts >= last_wanted
        if done:
            break
    for encoded in encoder.encode(None):
        _mux_encoded(pending, video_out, encoded, avcc)
    return count


def _encoder(index: FrameIndex, video_in: Any) -> Any:
    """A fast, high-quality encoder for at most one group of pictures."""
    encoder: Any = av.CodecContext.create(_ENCODERS[index.codec], "w")
    encoder.width, encoder.height = index.width, index.height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = MS
    # One thread: at 640x480 a second one gains nothing, and on a busy machine the two wait on
    # each other (measured: 13 ms a frame against 90 ms, bench/clips.py).
    encoder.thread_count = 1
    if index.codec == "vp8":
        encoder.bit_rate = 6_000_000
        encoder.options = {
            "deadline": "realtime",
            "cpu-used": "16",  # VP8's fastest: the same picture quality here (49 dB PSNR)
            "lag-in-frames": "0",
            "crf": "8",
            "qmin": "2",
            "qmax": "24",
        }
    else:
        encoder.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "crf": "16",
        }
    return encoder


def _mux_encoded(pending: list[Any], stream: Any, packet: Any, avcc: bool) -> None:
    if avcc:
        packet = _as_avcc(packet)
    packet.stream = stream
    packet.time_base = MS
    packet.dts = packet.pts
    pending.append(packet)


def _as_avcc(packet: Any) -> Any:
    """Annex-B (x264) to 4-byte length-prefixed NAL units, as H264 in Matroska stores them."""
    data = bytes(packet)
    nals = [
        n for n in data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01") if n
    ]
    converted = av.Packet(b"".join(len(n).to_bytes(4, "big") + n for n in nals))
    converted.pts = packet.pts
    converted.is_keyframe = packet.is_keyframe
    return converted


def still_png(vault: Vault, src: Path, frame_number: int, index: FrameIndex | None = None) -> bytes:
    """The exact frame as a PNG (decoded from the keyframe before it); blocking."""
    index = index or cached_index(vault, src)
    if not 0 <= frame_number < len(index):
        raise CutError(f"frame must satisfy 0 <= frame < {len(index)}")
    target = index.pts[frame_number]
    with vault.open(src) as sealed, av.open(sealed, "r") as source:
        video = source.streams.video[0]
        keyframe = index.keyframe_at_or_before(frame_number)
        source.seek(index.pts[keyframe], stream=video, backward=True, any_frame=False)
        for packet in source.demux(video):
            for frame in packet.decode():
                if frame.pts == target:
                    return encode_png(frame)
    raise CutError("the frame could not be decoded")


def encode_png(frame: Any) -> bytes:
    encoder: Any = av.CodecContext.create("png", "w")
    encoder.width, encoder.height = frame.width, frame.height
    encoder.pix_fmt = "rgb24"
    encoder.time_base = MS
    image = frame.reformat(format="rgb24")
    image.pts = 0
    return b"".join(bytes(p) for p in encoder.encode(image)) + b"".join(
        bytes(p) for p in encoder.encode(None)
    )
