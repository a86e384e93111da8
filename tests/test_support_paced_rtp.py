"""The benchmarks' cheap publishers (tests/support/paced_rtp.py) send what a real one sends.

bench/scale.py measures the server with families whose media one pacing task sends. If that
task dropped, reordered or mistimed frames, the benchmark would measure its own faults: here a
paced family is recorded by a real server and the recording is read frame by frame.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.conftest import RunningServer
from tests.recording_helpers import call
from tests.support.paced_rtp import RtpPacer
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
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) < 0.1, max(gaps)  # at its pace: 30 fps, no bursts after stalls
    frame_zero = [t for n, t in zip(numbers, times, strict=True) if n == 0]
    clicks = [t for t in onsets if t > 0.5]
    assert clicks, onsets
    for click in clicks:  # the audio's clicks land on the video's frame 0, as sent
        assert min(abs(click - t) for t in frame_zero) <= 0.040, (click, frame_zero)
