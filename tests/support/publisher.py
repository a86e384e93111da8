"""A simulated family: an aiortc client that joins a session and sends pre-encoded media.

Frames are encoded once (numbered VP8 video, an Opus tone) and then sent as packets at their
real pace, so a publisher costs almost no CPU: used by tests that need many or cheap families,
and by the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from tests.support.numbered_video import numbered_frame_luma
from tests.support.paced_rtp import AUDIO_CLOCK, VIDEO_CLOCK, IdleTrack, RtpPacer, paced_stream


async def aiortc_offer(kinds: tuple[str, ...] = ("audio", "video")) -> str:
    """A real offer from a real aiortc client, as a browser would send it (the client is closed
    at once: only its SDP is needed)."""
    pc = RTCPeerConnection()
    try:
        for kind in kinds:
            pc.addTransceiver(kind, direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


@dataclass
class EncodedMedia:
    video: list[tuple[bytes, bool]]  # (encoded frame, keyframe)
    audio: list[bytes]  # 20 ms Opus frames
    fps: int
    codec: str = "VP8"  # or "H264" (Annex-B, constrained baseline, as Safari sends)


def encode_numbered_video(
    frames: int,
    fps: int = 30,
    width: int = 640,
    height: int = 480,
    gop: int = 30,
    bit_rate: int = 800_000,
    codec: str = "VP8",
    touch: Callable[[np.ndarray], None] | None = None,  # type: ignore[type-arg]
) -> list[tuple[bytes, bool]]:
    """Numbered frames (a keyframe every `gop` frames) encoded once: (packet, is_keyframe).

    `touch` may change each frame's luma in place first (e.g. add a camera's grain).
    """
    encoder = av.CodecContext.create("libvpx" if codec == "VP8" else "libx264", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = fractions.Fraction(1, fps)
    encoder.bit_rate = bit_rate
    encoder.gop_size = gop
    if codec == "VP8":
        encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    else:
        encoder.options = {"profile": "baseline", "tune": "zerolatency", "preset": "ultrafast"}
    video: list[tuple[bytes, bool]] = []
    chroma = np.full((height // 2, width // 2), 128, np.uint8).tobytes()
    for index in range(frames):
        luma = numbered_frame_luma(index, width, height)
        if touch is not None:
            touch(luma)
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(luma.tobytes())
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = index
        frame.pict_type = (
            av.video.frame.PictureType.I if index % gop == 0 else av.video.frame.PictureType.NONE
        )
        video += [(bytes(p), bool(p.is_keyframe)) for p in encoder.encode(frame)]
    video += [(bytes(p), bool(p.is_keyframe)) for p in encoder.encode(None)]
    return video


def encode_clicks(
    packets: int,
    tone_hz: Callable[[int], float | None],
    level: int = 16000,
    packet_ms: int = 20,
) -> list[bytes]:
    """Stereo Opus, `packets` of `packet_ms` each: silence, or a tone where `tone_hz(index)`
    gives a pitch (a click a recording's lip-sync or timeline is measured against)."""
    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate = AUDIO_CLOCK
    opus.layout = "stereo"
    opus.format = "s16"
    samples_per_packet = AUDIO_CLOCK * packet_ms // 1000
    t = np.arange(samples_per_packet) / AUDIO_CLOCK
    silence = np.zeros(samples_per_packet * 2, np.int16)
    audio: list[bytes] = []
    for index in range(packets):
        hz = tone_hz(index)
        samples = silence
        if hz is not None:
            samples = np.repeat((np.sin(2 * np.pi * hz * t) * level).astype(np.int16), 2)
        af = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
        af.sample_rate = AUDIO_CLOCK
        af.pts = index * samples_per_packet
        audio += [bytes(p) for p in opus.encode(af)]
    return audio


def encode_media(
    frames: int = 90,
    fps: int = 30,
    width: int = 640,
    height: int = 480,
    gop: int = 30,
    codec: str = "VP8",
) -> EncodedMedia:
    """Numbered frames (a keyframe every `gop` frames) and a click track, encoded once."""
    video = encode_numbered_video(frames, fps, width, height, gop, codec=codec)
    # Audio as long as the video loop: silence with a 20 ms click exactly when video frame 0
    # is shown, so a recording's lip-sync can be measured.
    audio = encode_clicks(round(frames / fps / 0.02), lambda i: 1000.0 if i == 0 else None)
    return EncodedMedia(video, audio, fps, codec)


class PacedPacketTrack(MediaStreamTrack):
    """Loops pre-encoded packets at their real pace; aiortc's sender packs them unchanged."""

    def __init__(
        self, kind: str, packets: list[bytes], interval: float, clock: int, start: list[float]
    ) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._interval = interval
        self._step = int(clock * interval)
        self._clock = clock
        self._index = 0
        self._start = start  # shared by a publisher's tracks: one capture clock, in sync
        self.sent = 0

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        if not self._start:
            self._start.append(time.monotonic())
        due = self._start[0] + self._index * self._interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        data = self._packets[self._index % len(self._packets)]
        packet = av.Packet(data)
        packet.pts = self._index * self._step
        packet.time_base = fractions.Fraction(1, self._clock)
        self._index += 1
        self.sent += 1
        return packet


@dataclass
class SimulatedFamily:
    """Joins a session with a family token and publishes the encoded media (through aiortc's
    sender, or, given a `pacer`, sent by the pacer: see tests/support/paced_rtp.py)."""

    ws_url: str
    token: str
    media: EncodedMedia | None = None
    pacer: RtpPacer | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    clip_frames: list[tuple[float, Any]] = field(default_factory=list)
    # Frames received on a supervision call's recorded-review camera slots, by slot name.
    recorded_frames: dict[str, list[tuple[float, Any]]] = field(default_factory=dict)
    _consumers: list[asyncio.Task[None]] = field(default_factory=list)
    pc: RTCPeerConnection | None = None
    _http: aiohttp.ClientSession | None = None
    _ws: Any = None
    _reader: asyncio.Task[None] | None = None

    async def join(self, with_media: bool = True) -> None:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(self.ws_url)
        await self._ws.send_json({"type": "hello", "version": 1, "token": self.token})
        self._reader = asyncio.create_task(self._read())
        await self.wait_for("welcome")
        if with_media:
            await self.connect_media()

    async def connect_media(self) -> None:
        """A new RTCPeerConnection and offer (as a browser does after a reload or drop).

        One transceiver per slot the server announced in its welcome: the camera slots send
        the encoded media (if any), the others only receive. Frames received on the clip's
        video slot are kept in `clip_frames` (arrival time, frame), those on a recorded
        review's camera slots in `recorded_frames`.
        """
        if self.pc is not None:
            await self.pc.close()
        # max-bundle, as browsers do: aiortc's default gives a second video transceiver made
        # before the offer a transport that never connects.
        pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.pc = pc
        welcome = next(m for m in self.messages if m["type"] == "welcome")
        slots = welcome.get("slots") or [
            {"name": "camera", "kind": "audio", "send": True},
            {"name": "camera", "kind": "video", "send": True},
        ]
        start: list[float] = []
        transceivers = []
        paced: list[tuple[RTCRtpTransceiver, list[list[bytes]], float, int]] = []
        for slot in slots:
            if slot["name"] == "camera" and slot["send"] and self.media is not None:
                kind = slot["kind"]
                if kind == "video":
                    packets = [d for d, _ in self.media.video]
                    interval, clock = 1 / self.media.fps, VIDEO_CLOCK
                else:
                    packets, interval, clock = self.media.audio, 0.02, AUDIO_CLOCK
                track: MediaStreamTrack = (
                    PacedPacketTrack(kind, packets, interval, clock, start)
                    if self.pacer is None
                    else IdleTrack(kind)
                )
                transceiver = pc.addTransceiver(track, direction="sendrecv")
                if kind == "video":
                    wanted = (self.media.codec, "rtx")
                    caps = RTCRtpSender.getCapabilities("video").codecs
                    transceiver.setCodecPreferences([c for c in caps if c.name in wanted])
                if self.pacer is not None:
                    if kind == "video":
                        assert self.media.codec == "VP8", "the pacer packetises VP8 only"
                        frames = self.pacer.vp8_payloads(self.media, packets, self.media.fps)
                    else:
                        frames = [[data] for data in packets]
                    paced.append((transceiver, frames, interval, clock))
            else:
                transceiver = pc.addTransceiver(slot["kind"], direction="recvonly")
            transceivers.append((slot, transceiver))
        await pc.setLocalDescription(await pc.createOffer())
        answers = len([m for m in self.messages if m["type"] == "answer"])
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})
        answer = await self.wait_for("answer", after=answers)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        for transceiver, frames, interval, clock in paced:
            assert self.pacer is not None
            offer_sdp = pc.localDescription.sdp
            stream = paced_stream(transceiver, offer_sdp, answer["sdp"], frames, interval, clock)
            self.pacer.add(stream)
        for slot, transceiver in transceivers:
            if transceiver.receiver.track is None:
                continue
            keep: list[tuple[float, Any]] | None = None
            if slot["kind"] == "video" and slot["name"] == "clip":
                keep = self.clip_frames
            elif slot["kind"] == "video" and slot["name"].startswith("recorded-"):
                keep = self.recorded_frames.setdefault(slot["name"], [])
            self._consumers.append(
                asyncio.create_task(self._consume(transceiver.receiver.track, keep))
            )

    async def _consume(self, track: Any, keep: list[tuple[float, Any]] | None) -> None:
        """Read a received track (an unread aiortc track grows without bound)."""
        with contextlib.suppress(Exception):
            while True:
                frame = await track.recv()
                if keep is not None:
                    keep.append((time.monotonic(), frame))

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send_str(json.dumps(message))

    async def wait_for(
        self, kind: str, after: int = 0, timeout: float = 10.0, **match: Any
    ) -> dict[str, Any]:
        """The (after+1)-th message of this type (matching the given fields)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                m
                for m in self.messages
                if m["type"] == kind and all(m.get(k) == v for k, v in match.items())
            ]
            if len(found) > after:
                return found[after]
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"no {kind!r} message {match} within {timeout} s: {self.messages[-5:]}"
        )

    async def wait_for_any(
        self, kinds: tuple[str, ...], after_index: int, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first message of one of these types received after message number `after_index`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages[after_index:]:
                if message["type"] in kinds:
                    return message
            await asyncio.sleep(0.02)
        raise AssertionError(f"none of {kinds} within {timeout} s: {self.messages[-5:]}")

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for task in self._consumers:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._http is not None:
            await self._http.close()
