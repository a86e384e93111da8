"""Each coupling to aiortc's internals, tested through a real server and real aiortc peers.

- the encoded-frame tap: what a publisher sends reaches the feed as EncodedFrames, unchanged,
  with the right keyframe flags; a tapped receiver hands each frame on on the event loop;
- a viewer's keyframe request (RTCP PLI) travels through the server to the publisher;
- the server's own keyframe request (a new viewer, the recorder) reaches the publisher;
- the import-time check names what is missing, and the installed and pinned versions.

The publisher of the keyframe tests lets aiortc encode its frames (VP8: a keyframe at the
start and then only when asked), so a keyframe after the start proves a request arrived.
"""

from __future__ import annotations

import asyncio
import fractions
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiortc
import aiortc.jitterbuffer
import aiortc.rtcrtpreceiver
import aiortc.rtp
import av
import numpy as np
import pytest
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from tests.conftest import RunningServer
from tests.support.paced_rtp import VIDEO_CLOCK
from tests.support.publisher import PacedPacketTrack, SimulatedFamily, encode_media
from vigremote.media import aiortc_compat
from vigremote.media.feeds import Feed
from vigremote.media.passthrough import EncodedFrame
from vigremote.state import ROOMS

TIMEOUT = 10.0
QUIET_S = 1.0  # no keyframe request for this long: the stream has settled


async def until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# -- peers --------------------------------------------------------------------------------------
class PictureTrack(MediaStreamTrack):
    """30 fps raw pictures with a moving bar: aiortc's own VP8 encoder sends them, so a
    keyframe is sent at the start and then only on a PLI or FIR."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._index / 30 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        picture = np.full((240 * 3 // 2, 320), 128, np.uint8)
        column = (self._index * 4) % 320
        picture[:240, column : column + 8] = 235
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = self._index * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        self._index += 1
        return frame


@dataclass
class Client:
    """One side of a call: a signalling socket (SimulatedFamily does the talking) and a peer."""

    signalling: SimulatedFamily
    pc: RTCPeerConnection
    frames: list[tuple[float, EncodedFrame]] = field(default_factory=list)
    keyframe_requests: list[float] = field(default_factory=list)  # PLIs the sender received
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def negotiate(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.signalling.send({"type": "offer", "sdp": self.pc.localDescription.sdp})
        answer = await self.signalling.wait_for("answer")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is not None and transceiver.kind == "video":
                self._tasks.append(asyncio.create_task(self._read(transceiver.receiver.track)))

    def count_keyframe_requests(self, sender: RTCRtpSender) -> None:
        """Note each PLI/FIR reaching `sender`, then let aiortc handle it as usual."""
        original = sender._send_keyframe

        def noted() -> None:
            self.keyframe_requests.append(time.monotonic())
            original()

        sender._send_keyframe = noted  # type: ignore[method-assign]

    def keyframes_since(self, moment: float) -> int:
        return sum(1 for at, f in self.frames if at > moment and f.keyframe)

    def requested_since(self, moment: float) -> bool:
        return any(at > moment for at in self.keyframe_requests)

    async def _read(self, track: Any) -> None:
        while True:
            frame = await track.recv()  # EncodedFrames: the server tapped this process too
            self.frames.append((time.monotonic(), frame))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
        await self.signalling.close()


def plain_pc() -> RTCPeerConnection:
    # No STUN server (there is no internet here), bundled as browsers do.
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


@dataclass
class Call:
    server: RunningServer
    session_id: str
    family_token: str
    practitioner_token: str

    def feed(self, publisher: str, kind: str) -> Feed:
        room = self.server.app[ROOMS].get(self.session_id)
        assert room is not None
        feed: Feed = room.feed(publisher, kind)
        return feed

    async def client(self, token: str) -> Client:
        signalling = SimulatedFamily(self.server.ws_url, token)
        await signalling.join(with_media=False)
        return Client(signalling, plain_pc())

    async def publisher(self) -> Client:
        """The family, sending PictureTrack as VP8."""
        family = await self.client(self.family_token)
        transceiver = family.pc.addTransceiver(PictureTrack(), direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in caps if c.name in ("VP8", "rtx")])
        family.count_keyframe_requests(transceiver.sender)
        await family.negotiate()
        return family

    async def viewer(self) -> tuple[Client, RTCRtpReceiver]:
        """The practitioner, receiving the family's video."""
        practitioner = await self.client(self.practitioner_token)
        transceiver = practitioner.pc.addTransceiver("video", direction="recvonly")
        await practitioner.negotiate()
        return practitioner, transceiver.receiver


@asynccontextmanager
async def call(server: RunningServer) -> AsyncIterator[Call]:
    owner = server.store.add_user("alice", "Alice", "practitioner", "unused")
    created = server.new_session(owner)
    session_id = created["session"]["id"]
    yield Call(server, session_id, created["token"], server.practitioner_token(session_id, owner))


class Collect:
    def __init__(self) -> None:
        self.frames: list[tuple[float, EncodedFrame]] = []

    def push(self, generation: int, frame: EncodedFrame) -> None:
        self.frames.append((time.monotonic(), frame))

    def keyframes_since(self, moment: float) -> int:
        return sum(1 for at, f in self.frames if at > moment and f.keyframe)


async def settle(publisher: Client) -> float:
    """Wait until no keyframe request has reached the publisher for QUIET_S; returns now."""
    start = time.monotonic()

    def quiet() -> bool:
        last = max(publisher.keyframe_requests, default=start)
        return time.monotonic() - last >= QUIET_S

    await until(quiet, "the keyframe requests of joining to stop")
    return time.monotonic()


# -- the encoded-frame tap ----------------------------------------------------------------------
def content(codec: str, data: bytes) -> object:
    """What must arrive unchanged: a VP8 frame; H264's NAL units (aiortc's depacketizer
    writes every start code as 00 00 00 01)."""
    if codec != "H264":
        return data
    return tuple(unit for unit in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", data) if unit)


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_the_tap_yields_the_publishers_frames_unchanged_with_keyframe_flags(
    server: RunningServer, codec: str
) -> None:
    media = encode_media(frames=45, width=320, height=240, gop=10, codec=codec)
    sent = {content(codec, data): key for data, key in media.video}  # as the encoder said
    async with call(server) as c:
        video, audio = Collect(), Collect()
        family = SimulatedFamily(server.ws_url, c.family_token, media)
        await family.join(with_media=False)  # the room is open from here
        c.feed("family", "video").add_sink(video)
        c.feed("family", "audio").add_sink(audio)
        try:
            await family.connect_media()
            await until(lambda: len(video.frames) >= 30, "30 video frames at the feed")
            await until(lambda: len(audio.frames) >= 20, "20 audio frames at the feed")
        finally:
            await family.close()
    frames = [f for _, f in video.frames]
    assert all(isinstance(f, EncodedFrame) for f in frames)
    assert {f.codec for f in frames} == {codec}
    assert all(content(codec, f.data) in sent for f in frames), "a frame arrived changed"
    assert [f.keyframe for f in frames] == [sent[content(codec, f.data)] for f in frames]
    assert any(f.keyframe for f in frames) and not all(f.keyframe for f in frames)
    # One RTP clock, starting near 0, one frame interval (1/30 s) apart.
    assert all(f.time_base == fractions.Fraction(1, 90000) for f in frames)
    assert all((f.pts - frames[0].pts) % 3000 == 0 for f in frames)
    sounds = [f for _, f in audio.frames]
    assert {f.codec for f in sounds} == {"opus"} and all(f.keyframe for f in sounds)
    assert all(f.data in media.audio for f in sounds)


# -- keyframe requests ----------------------------------------------------------------------------
async def test_a_viewers_pli_reaches_the_publisher(server: RunningServer) -> None:
    async with call(server) as c:
        family = await c.publisher()
        viewer, receiver = await c.viewer()
        try:
            await until(lambda: viewer.keyframes_since(0) >= 1, "the viewer's first keyframe")
            quiet_since = await settle(family)
            assert viewer.keyframes_since(quiet_since) == 0
            sources = receiver.getSynchronizationSources()
            assert sources, "the viewer heard no RTP"
            for source in sources:  # what a browser does when it lost the picture
                await receiver._send_rtcp_pli(source.source)
            await until(
                lambda: family.requested_since(quiet_since),
                "the viewer's PLI to reach the publisher",
            )
            await until(
                lambda: viewer.keyframes_since(quiet_since) >= 1,
                "the keyframe the PLI asked for to reach the viewer",
            )
        finally:
            await viewer.close()
            await family.close()


async def test_the_servers_keyframe_request_reaches_the_publisher(server: RunningServer) -> None:
    async with call(server) as c:
        family = await c.publisher()
        try:
            feed = c.feed("family", "video")
            await until(lambda: feed.frames_in > 0, "the family's video at the feed")
            sink = Collect()
            feed.add_sink(sink)  # a new viewer or the recorder: itself asks for a keyframe
            await until(lambda: sink.keyframes_since(0) >= 1, "a keyframe for the new sink")
            quiet_since = await settle(family)
            feed.request_keyframe(0.0)
            await until(
                lambda: family.requested_since(quiet_since),
                "the server's PLI to reach the publisher",
            )
            await until(lambda: sink.keyframes_since(quiet_since) >= 1, "the keyframe")
        finally:
            await family.close()


# -- frames handed on on the event loop -----------------------------------------------------------
async def test_a_tapped_receiver_hands_frames_on_on_the_loop_and_ends_its_track() -> None:
    """decode_on_loop: every frame reaches the track, each "decoded" on the event loop's
    thread (not the receiver's decoder thread), and closing the connection ends the track."""
    media = encode_media(frames=30, width=320, height=240, gop=10)
    decoded_on: set[int] = set()

    class Recorded:
        def decode(self, encoded_frame: Any) -> list[bytes]:
            decoded_on.add(threading.get_ident())
            return [bytes(encoded_frame.data)]

    sender = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    receiver = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    try:
        packets = [d for d, _ in media.video]
        track = PacedPacketTrack("video", packets, 1 / 30, VIDEO_CLOCK, [])
        out = sender.addTransceiver(track, direction="sendonly")
        out.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name in ("VP8", "rtx")]
        )
        await sender.setLocalDescription(await sender.createOffer())
        incoming = receiver.addTransceiver("video", direction="recvonly")
        with pytest.raises(RuntimeError):  # no track before the offer is known
            aiortc_compat.decode_on_loop(incoming.receiver, lambda codec: Recorded())
        await receiver.setRemoteDescription(sender.localDescription)
        aiortc_compat.decode_on_loop(incoming.receiver, lambda codec: Recorded())
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        got = [await asyncio.wait_for(incoming.receiver.track.recv(), TIMEOUT) for _ in range(20)]
        assert set(got) <= set(packets) and len(set(got)) >= 19  # as sent, none lost
        assert decoded_on == {threading.get_ident()}  # on the loop, no thread between
        with pytest.raises(RuntimeError):  # too late once the receiver has started
            aiortc_compat.decode_on_loop(incoming.receiver, lambda codec: Recorded())
    finally:
        await sender.close()
        await receiver.close()
    with pytest.raises(MediaStreamError):  # the track ended with the connection
        while True:
            await asyncio.wait_for(incoming.receiver.track.recv(), TIMEOUT)


# -- the import-time check ----------------------------------------------------------------------
def test_the_installed_aiortc_has_everything_relied_on() -> None:
    assert aiortc.__version__ == aiortc_compat.AIORTC_PINNED
    assert aiortc_compat.problems() == []


async def _no_keyframe_call(self: Any, packet: Any) -> None:
    return None


def _worker_without_hook(*args: Any) -> None:
    return None


async def _sync_looking_pli(self: Any, ssrc: int, extra: int) -> None:
    return None


class _OtherJitterFrame:
    def __init__(self, payload: bytes, ts: int) -> None:
        self.payload, self.ts = payload, ts


def _init_without_codecs(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


def _set_with_other_arguments(self: object, values: object, extra: object = None) -> None:
    """A HeaderExtensionsMap.set that takes other arguments than aiortc 1.16's."""


async def _run_rtp_without_extensions(self: object) -> None:
    """A sender loop that no longer writes header extensions through its private map."""


async def _remote_description_without_extmap(self: object, description: object) -> None:
    """A setRemoteDescription that no longer records the offered header extensions."""


async def _rtp_handler_without_queue(self: object, packet: object, arrival_time_ms: int) -> None:
    """A receiver that no longer hands frames to its thread through __decoder_queue."""


class _TrackWithoutQueue:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def recv(self) -> None:
        return None


BREAKAGES: dict[str, tuple[object, str, object, str]] = {
    # name: (owner, attribute, replacement or None to delete, what the message names)
    "get_decoder-gone": (aiortc.rtcrtpreceiver, "get_decoder", None, "get_decoder"),
    "decoder-worker-changed": (
        aiortc.rtcrtpreceiver,
        "decoder_worker",
        _worker_without_hook,
        "decoder_worker",
    ),
    "decoder-queue-unused": (
        RTCRtpReceiver,
        "_handle_rtp_packet",
        _rtp_handler_without_queue,
        "__decoder_queue",
    ),
    "track-queue-gone": (
        aiortc.rtcrtpreceiver,
        "RemoteStreamTrack",
        _TrackWithoutQueue,
        "RemoteStreamTrack",
    ),
    "jitter-frame-changed": (aiortc.jitterbuffer, "JitterFrame", _OtherJitterFrame, "JitterFrame"),
    "pli-gone": (RTCRtpReceiver, "_send_rtcp_pli", None, "_send_rtcp_pli"),
    "pli-signature": (RTCRtpReceiver, "_send_rtcp_pli", _sync_looking_pli, "_send_rtcp_pli"),
    "send-keyframe-gone": (RTCRtpSender, "_send_keyframe", None, "_send_keyframe"),
    "rtcp-handler-changed": (
        RTCRtpSender,
        "_handle_rtcp_packet",
        _no_keyframe_call,
        "_handle_rtcp_packet",
    ),
    "codecs-gone": (RTCRtpTransceiver, "__init__", _init_without_codecs, "_codecs"),
    # The clip's playout-delay extension (peers.py asks the browser to show frames at once).
    "extmap-not-kept": (
        RTCPeerConnection,
        "setRemoteDescription",
        _remote_description_without_extmap,
        "_headerExtensions",
    ),
    "sender-map-unused": (
        RTCRtpSender,
        "_run_rtp",
        _run_rtp_without_extensions,
        "__rtp_header_extensions_map",
    ),
    "extension-map-set-changed": (
        aiortc.rtp.HeaderExtensionsMap,
        "set",
        _set_with_other_arguments,
        "HeaderExtensionsMap.set",
    ),
    "extension-packing-gone": (
        aiortc.rtp,
        "pack_header_extensions",
        None,
        "pack_header_extensions",
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_the_check_names_what_is_missing_and_both_versions(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    owner, attribute, replacement, named = BREAKAGES[name]
    if replacement is None:
        monkeypatch.delattr(owner, attribute)
    else:
        monkeypatch.setattr(owner, attribute, replacement)
    monkeypatch.setattr(aiortc, "__version__", "9.9.9")
    with pytest.raises(aiortc_compat.AiortcIncompatible) as raised:
        aiortc_compat.check()
    message = str(raised.value)
    assert named in message
    assert "installed aiortc 9.9.9" in message and "aiortc==1.16.0" in message
    assert len(aiortc_compat.problems()) == 1, aiortc_compat.problems()


def test_importing_the_media_path_fails_clearly_on_an_incompatible_aiortc() -> None:
    """At import, before any call is made: a fresh interpreter whose aiortc lacks a hook."""
    script = (
        "import aiortc.rtcrtpsender as s\ndel s.RTCRtpSender._send_keyframe\nimport vigremote.app\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert result.returncode != 0
    assert "AiortcIncompatible" in result.stderr
    assert "RTCRtpSender._send_keyframe() is missing" in result.stderr
    assert f"installed aiortc {aiortc.__version__}" in result.stderr
