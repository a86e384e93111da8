"""Many simulated families' media sent by one task: a load generator that leaves the cores to
the server.

A benchmark of the server on this 2-core machine runs its publishers on the same cores. Through
aiortc's own sender a publisher costs about half of what the server spends on its session (two
tasks and two timers per publisher, an `av.Packet`, header extensions, a packet object and six
coroutine calls per RTP packet), and that caps what a scale benchmark can show. Here one task
sends every publisher's RTP at its due time, from payloads packetised once, with no await per
packet. ICE, DTLS and SRTP stay aiortc's: each packet is encrypted with the publisher's own
SRTP keys and sent from its own ICE pair's socket, so the server sees a real WebRTC peer and
does all its usual work. The publisher does less: it does not retransmit on NACK or answer a
PLI (it sends a keyframe every GOP anyway), so any packet lost counts against the server.

Private names used (checked when this module is imported): the DTLS transport's SRTP session
(`RTCDtlsTransport._tx_srtp`) and the nominated ICE pair of its aioice connection
(`RTCIceTransport._connection._nominated`).
"""

from __future__ import annotations

import asyncio
import fractions
import heapq
import itertools
import logging
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aioice
import av
from aiortc import RTCDtlsTransport, RTCRtpTransceiver
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

if (
    "_tx_srtp" not in RTCDtlsTransport.__init__.__code__.co_names
    or "_nominated" not in aioice.Connection.__init__.__code__.co_names
):
    raise ImportError(
        "aiortc's _tx_srtp or aioice's _nominated is gone: tests/support/paced_rtp.py"
    )

log = logging.getLogger(__name__)

RTP_HEADER = struct.Struct("!BBHII")  # version 2, marker + payload type, sequence, time, SSRC
VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000


def vp8_frames(frames: list[bytes], fps: int) -> list[list[bytes]]:
    """Each encoded VP8 frame cut into RTP payloads (with the payload descriptor), once."""
    packer = Vp8Encoder()
    out = []
    for index, data in enumerate(frames):
        packet = av.Packet(data)
        packet.pts = index
        packet.time_base = fractions.Fraction(1, fps)
        out.append(packer.pack(packet)[0])
    return out


class IdleTrack(MediaStreamTrack):
    """A sending track that never yields: aiortc's sender for it waits, at no cost, while the
    pacer sends this transceiver's packets."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        await self._never
        raise AssertionError("unreachable")


ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
NTP_OFFSET_S = 2208988800  # 1900 to 1970


@dataclass(frozen=True)
class HeaderExtensions:
    """The RTP header extensions aiortc's sender (and a browser) writes on every packet: the
    send time (the server's bandwidth estimator reads it) and the m-line's mid. One-byte
    form (RFC 8285), with the ids the answer gave them; either may be absent."""

    abs_send_time_id: int | None
    mid_id: int | None
    mid: str

    def block(self, now: float) -> bytes:
        """The extension block (its 0xBEDE header included), or b"" for none."""
        body = b""
        if self.abs_send_time_id is not None:
            value = (int((now + NTP_OFFSET_S) * (1 << 32)) >> 14) & 0xFFFFFF
            body += bytes([self.abs_send_time_id << 4 | 2]) + value.to_bytes(3, "big")
        if self.mid_id is not None and self.mid:
            mid = self.mid.encode()
            body += bytes([self.mid_id << 4 | (len(mid) - 1)]) + mid
        if not body:
            return b""
        body += bytes(-len(body) % 4)
        return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


@dataclass
class RtpStream:
    """One publisher's audio or video: its payloads, looped at their pace from `start`."""

    send: Callable[[bytes], None]
    ssrc: int
    payload_type: int
    frames: list[list[bytes]]  # a frame's RTP payloads
    interval: float  # seconds between frames
    clock_step: int  # RTP clock ticks between frames
    extensions: HeaderExtensions
    start: float = 0.0
    index: int = 0
    sequence: int = field(default_factory=lambda: random.randrange(1 << 16))
    timestamp_origin: int = field(default_factory=lambda: random.randrange(1 << 32))
    sent_frames: int = 0
    give_up_at: float = 0.0  # a stream never connected by then is dropped

    def due(self) -> float:
        return self.start + self.index * self.interval

    def send_frame(self) -> None:
        payloads = self.frames[self.index % len(self.frames)]
        timestamp = (self.timestamp_origin + self.index * self.clock_step) & 0xFFFFFFFF
        extensions = self.extensions.block(time.time())
        first_byte = 0x90 if extensions else 0x80  # version 2, with or without extensions
        last = len(payloads) - 1
        for position, payload in enumerate(payloads):
            marker = 0x80 if position == last else 0
            header = RTP_HEADER.pack(
                first_byte, marker | self.payload_type, self.sequence, timestamp, self.ssrc
            )
            self.send(header + extensions + payload)
            self.sequence = (self.sequence + 1) & 0xFFFF
        self.index += 1
        self.sent_frames += 1


class RtpPacer:
    """Sends every stream's next frame when it is due, from one task (`run`)."""

    CONNECT_WITHIN_S = 30.0

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, RtpStream]] = []
        self._order = itertools.count()
        # By media object (kept alive here, so its id is never another's).
        self._vp8: dict[int, tuple[object, list[list[bytes]]]] = {}

    def vp8_payloads(self, media: object, frames: list[bytes], fps: int) -> list[list[bytes]]:
        """`vp8_frames` of `media`'s video, packetised once for all its publishers."""
        if id(media) not in self._vp8:
            self._vp8[id(media)] = (media, vp8_frames(frames, fps))
        return self._vp8[id(media)][1]

    def add(self, stream: RtpStream) -> None:
        stream.start = time.monotonic()
        stream.give_up_at = stream.start + self.CONNECT_WITHIN_S
        heapq.heappush(self._heap, (stream.due(), next(self._order), stream))

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now + 0.001:
                _, order, stream = heapq.heappop(self._heap)
                try:
                    stream.send_frame()
                except ConnectionError:
                    if stream.sent_frames or now > stream.give_up_at:
                        continue  # the publisher left, or never connected: drop the stream
                    stream.start = now + 0.02  # not connected yet: begin again a little later
                    stream.index = 0
                except Exception:  # one broken stream must not silence every family
                    log.exception("a paced stream failed and was dropped")
                    continue
                heapq.heappush(self._heap, (stream.due(), order, stream))
            delay = self._heap[0][0] - time.monotonic() if self._heap else 0.02
            await asyncio.sleep(min(max(delay, 0.0), 0.02))


def srtp_sender(dtls: RTCDtlsTransport) -> Callable[[bytes], None]:
    """Sends an RTP packet at once: encrypted with the transport's SRTP keys, from its ICE
    pair's socket (ConnectionError before the connection is up, and after it closed)."""
    route: list[tuple[Any, Any, Any]] = []

    def send(rtp: bytes) -> None:
        if dtls.state != "connected":
            raise ConnectionError(f"the DTLS transport is {dtls.state}")
        if not route:
            pair = dtls.transport._connection._nominated.get(1)
            if pair is None:
                raise ConnectionError("no ICE pair yet")
            route.append((dtls._tx_srtp, pair.protocol.transport, pair.remote_addr))
        srtp, socket, address = route[0]
        if socket.is_closing():  # the family left (its DTLS state may not say so yet)
            raise ConnectionError("the ICE socket is closed")
        socket.sendto(srtp.protect(rtp), address)

    return send


def paced_stream(
    transceiver: RTCRtpTransceiver,
    offer_sdp: str,
    answer_sdp: str,
    frames: list[list[bytes]],
    interval: float,
    clock: int,
) -> RtpStream:
    """The stream a negotiated sending transceiver carries: its SSRC from the offer, its payload
    type (the first codec) from the answer, sent through its DTLS transport."""
    offer = next(
        m for m in SessionDescription.parse(offer_sdp).media if m.rtp.muxId == transceiver.mid
    )
    answer = next(
        m for m in SessionDescription.parse(answer_sdp).media if m.rtp.muxId == transceiver.mid
    )
    ids = {x.uri: x.id for x in answer.rtp.headerExtensions}
    fid = next((g for g in offer.ssrc_group if g.semantic == "FID"), None)
    ssrc = int(fid.items[0]) if fid is not None else offer.ssrc[0].ssrc
    payload_type = answer.rtp.codecs[0].payloadType
    assert payload_type is not None
    return RtpStream(
        send=srtp_sender(transceiver.sender.transport),
        ssrc=ssrc,
        payload_type=payload_type,
        frames=frames,
        interval=interval,
        clock_step=round(clock * interval),
        extensions=HeaderExtensions(ids.get(ABS_SEND_TIME), ids.get(MID), transceiver.mid or ""),
    )
