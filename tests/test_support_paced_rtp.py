"""The benchmarks' cheap publishers (tests/support/paced_rtp.py) send what a real one sends.

bench/scale.py measures the server with families whose media one pacing task sends. If that
task dropped, reordered or mistimed frames, the benchmark would measure its own faults: here a
paced family is recorded by a real server and the recording is read frame by frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from tests.conftest import RunningServer
from tests.recording_helpers import call
from tests.support.paced_rtp import (
    ABS_SEND_TIME,
    MID,
    NTP_OFFSET_S,
    HeaderExtensions,
    RtpPacer,
    RtpStream,
)
from tests.test_recording import click_times, decoded_numbers
from vigremote.state import VAULT


async def test_a_paced_family_is_recorded_frame_by_frame_in_sync(server: RunningServer) -> None:
    pacer = RtpPacer()
    pacing = asyncio.create_task(pacer.run())
    try:
        async with call(server, pacer=pacer) as c:
            await c.consent(["analysis"])
            started = await c.record(c.practitioner, "start")
            assert started["state"] == "recording", started
            await asyncio.sleep(4.5)
            await c.record(c.practitioner, "stop")
            [segment] = c.files(started["recording_id"])
    finally:
        pacing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pacing
    with server.app[VAULT].open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
        onsets = click_times(sealed)
    assert None not in numbers
    steps = {(b - a) % 90 for a, b in zip(numbers, numbers[1:], strict=False)}  # type: ignore[operator]
    assert steps == {1}, steps  # every frame, in order
    assert 3.8 <= times[-1] - times[0] <= 4.8
    frame_zero = [t for n, t in zip(numbers, times, strict=True) if n == 0]
    clicks = [t for t in onsets if t > 0.5]
    assert clicks, onsets
    for click in clicks:  # the audio's clicks land on the video's frame 0, as sent
        assert min(abs(click - t) for t in frame_zero) <= 0.040, (click, frame_zero)


def test_a_paced_packet_carries_the_extensions_aiortcs_sender_writes() -> None:
    """The send time (the server's bandwidth estimator reads it) and the mid, as aiortc's
    own parser reads them with the negotiated ids."""
    sent: list[bytes] = []
    stream = RtpStream(
        send=sent.append,
        ssrc=1234,
        payload_type=96,
        frames=[[b"\x10" + bytes(50), b"\x00" + bytes(20)]],
        interval=1 / 30,
        clock_step=3000,
        extensions=HeaderExtensions(abs_send_time_id=3, mid_id=1, mid="1"),
    )
    before = time.time()
    stream.send_frame()
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=3, uri=ABS_SEND_TIME),
                RTCRtpHeaderExtensionParameters(id=1, uri=MID),
            ]
        )
    )
    first, second = (RtpPacket.parse(p, extensions) for p in sent)
    assert (first.ssrc, first.payload_type, first.marker) == (1234, 96, 0)
    assert second.marker == 1 and second.sequence_number == (first.sequence_number + 1) % 65536
    assert first.extensions.mid == "1"
    wanted = (int((before + NTP_OFFSET_S) * (1 << 32)) >> 14) & 0xFFFFFF
    assert first.extensions.abs_send_time is not None
    assert (first.extensions.abs_send_time - wanted) % (1 << 24) < 1 << 12  # within 16 ms
    assert first.payload == b"\x10" + bytes(50)
