"""Server recording: consent first, as sent, one timeline across reconnects, never lost."""

from __future__ import annotations

import asyncio
import os
import stat

import av
import numpy as np
import pytest

from tests.conftest import RunningServer
from tests.recording_helpers import Call, call
from tests.support.numbered_video import MediaSource, av_input, read_frame_number
from tests.support.publisher import SimulatedFamily, encode_media
from vigremote.state import RECORDINGS, ROOMS, VAULT


def decoded_numbers(source: MediaSource) -> tuple[list[int | None], list[float]]:
    """Each video frame's number and time; a sealed file is read from the file its Vault
    opened (`with vault.open(path) as f: decoded_numbers(f)`)."""
    numbers: list[int | None] = []
    times: list[float] = []
    with av.open(av_input(source), "r") as container:
        for frame in container.decode(video=0):
            numbers.append(read_frame_number(frame.to_ndarray(format="rgb24")))
            times.append(float(frame.time))
    return numbers, times


async def test_records_what_the_family_sent_after_consent(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis", "shared_review"])
        started = await c.record(c.practitioner, "start")
        assert started["state"] == "recording", started
        await asyncio.sleep(4)
        stopped = await c.record(c.practitioner, "stop")
        assert stopped["state"] == "stopped"
        recording = server.app[RECORDINGS].get(started["recording_id"])
        assert recording.status == "complete"
        assert recording.purposes == ["analysis", "shared_review"]
        [segment] = c.files(recording.id)
        with server.app[VAULT].open(segment) as sealed:
            numbers, times = decoded_numbers(sealed)
            with av.open(av_input(sealed), "r") as container:
                kinds = sorted(s.type for s in container.streams)
                assert kinds == ["audio", "video"]
                assert container.streams.video[0].codec_context.name == "vp8"
        assert None not in numbers
        # 30 fps publisher: frame numbers advance by one (mod the 90-frame loop), no gaps.
        steps = {(b - a) % 90 for a, b in zip(numbers, numbers[1:], strict=False)}  # type: ignore[operator]
        assert steps == {1}, steps
        assert 3.3 <= times[-1] - times[0] <= 4.5
        assert 3.3 <= recording.duration_s <= 4.6


async def test_record_refused_without_consent_and_from_family(server: RunningServer) -> None:
    async with call(server) as c:
        refused = await c.record(c.practitioner, "start")
        assert refused["type"] == "error" and refused["code"] == "no-consent"
        await c.consent(["shared_review"])  # consent without the analysis purpose
        refused = await c.record(c.practitioner, "start")
        assert refused["code"] == "no-consent"
        await c.consent(["analysis"])
        refused = await c.record(c.family, "start")
        assert refused["code"] == "not-allowed"
        assert server.app[RECORDINGS].of_session(c.session["session"]["id"]) == []


async def test_files_are_private(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(1.5)
        await c.record(c.practitioner, "stop")
        [segment] = c.files(started["recording_id"])
        assert stat.S_IMODE(os.stat(segment).st_mode) == 0o600
        for folder in (segment.parent, segment.parent.parent, segment.parent.parent.parent):
            assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


async def test_reconnect_continues_the_same_recording(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(2.5)
        # The family's page reloads: a brand-new peer connection, the same recording.
        assert c.family.pc is not None
        await c.family.pc.close()
        await asyncio.sleep(1.5)
        await c.family.connect_media()
        await asyncio.sleep(2.5)
        await c.record(c.practitioner, "stop")
        recordings = server.app[RECORDINGS].of_session(c.session["session"]["id"])
        assert [r.id for r in recordings] == [started["recording_id"]]
        marks = server.app[RECORDINGS].marks(started["recording_id"])
        gap_start = next(m["t_s"] for m in marks if m["kind"] == "gap-start")
        gap_end = next(m["t_s"] for m in marks if m["kind"] == "gap-end")
        assert 1.0 < gap_end - gap_start < 4.0
        [segment] = c.files(started["recording_id"])
        with server.app[VAULT].open(segment) as sealed:
            numbers, times = decoded_numbers(sealed)
        assert None not in numbers
        before = [t for t in times if t < gap_start]
        after = [t for t in times if t > gap_end - 0.1]
        assert before and before[-1] - before[0] > 1.5  # nothing before the drop was lost
        assert after and after[-1] - after[0] > 1.5
        # The gap is a gap on the timeline, not squeezed out.
        assert after[0] - before[-1] >= gap_end - gap_start - 0.2


async def test_pause_resume_bookmark_and_family_pause(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(1.0)
        await c.practitioner.send({"type": "bookmark", "note": "she looks up"})
        marked = await c.practitioner.wait_for("bookmarked")
        assert 0.8 < marked["t_s"] < 2.0
        paused = await c.record(c.family, "pause")
        assert paused["state"] == "paused" and paused["paused_by"] == "family"
        refused = await c.record(c.practitioner, "resume")
        assert refused["code"] == "paused-by-family"
        await asyncio.sleep(1.0)
        resumed = await c.record(c.family, "resume")
        assert resumed["state"] == "recording"
        await asyncio.sleep(1.0)
        await c.record(c.practitioner, "stop")
        store = server.app[RECORDINGS]
        kinds = [m["kind"] for m in store.marks(started["recording_id"])]
        assert kinds == ["bookmark", "pause", "resume"]
        recording = store.get(started["recording_id"])
        # Paused time is not recorded: about 1 s + 1 s of recording.
        assert 1.6 < recording.duration_s < 2.8


async def test_withdrawn_consent_stops_the_recording(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis", "supervision"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(1.0)
        await c.consent([])
        stopped = await c.practitioner.wait_for("recording", state="stopped")
        assert "withdrew" in (stopped["message"] or "")
        assert server.app[RECORDINGS].get(started["recording_id"]).status == "complete"


def click_times(source: MediaSource) -> list[float]:
    """Onsets of the publisher's audio clicks (one per video loop)."""
    onsets: list[float] = []
    with av.open(av_input(source), "r") as container:
        for frame in container.decode(audio=0):
            loud = np.nonzero(np.abs(frame.to_ndarray()).max(axis=0) > 0.1)[0]
            if len(loud) and frame.time is not None:
                onset = float(frame.time) + loud[0] / frame.sample_rate
                if not onsets or onset - onsets[-1] > 1.0:
                    onsets.append(onset)
    return onsets


async def test_audio_and_video_share_one_timeline(server: RunningServer) -> None:
    """The publisher clicks exactly when it shows frame 0: both must coincide within 40 ms."""
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(7.5)
        await c.record(c.practitioner, "stop")
        [segment] = c.files(started["recording_id"])
    with server.app[VAULT].open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
        onsets = click_times(sealed)
    frame_zero = [t for n, t in zip(numbers, times, strict=True) if n == 0]
    clicks = [t for t in onsets if t > 0.5]
    assert len(frame_zero) >= 2 and len(clicks) >= 2, (frame_zero, clicks)
    for click in clicks:
        nearest = min(frame_zero, key=lambda t: abs(t - click))
        assert abs(click - nearest) <= 0.040, (click, nearest)


async def test_h264_from_the_family_is_recorded_as_sent(server: RunningServer) -> None:
    """A browser that offers only H264 (older Safari): recorded without transcoding."""
    owner = server.add_user("hana")
    session = server.new_session(owner)
    h264 = encode_media(frames=90, fps=30, width=320, height=240, gop=30, codec="H264")
    family = SimulatedFamily(server.ws_url, session["token"], h264)
    practitioner = SimulatedFamily(
        server.ws_url, server.practitioner_token(session["session"]["id"], owner)
    )
    await practitioner.join(with_media=False)
    await family.join()
    try:
        answer = [m for m in family.messages if m["type"] == "answer"][-1]
        assert answer["codec"] == "H264"
        c = Call(server, session, family, practitioner)
        await c.consent(["analysis"])
        started = await c.record(practitioner, "start")
        assert started["state"] == "recording", started
        await asyncio.sleep(3)
        await c.record(practitioner, "stop")
        [segment] = c.files(started["recording_id"])
    finally:
        await family.close()
        await practitioner.close()
    assert segment.suffix == ".mkv"
    with server.app[VAULT].open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
        with av.open(av_input(sealed), "r") as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert container.streams.video[0].codec_context.width == 320
    assert None not in numbers and len(numbers) >= 60
    steps = {(b - a) % 90 for a, b in zip(numbers, numbers[1:], strict=False)}  # type: ignore[operator]
    assert steps == {1}, steps


async def test_a_recorder_that_raises_stops_as_failed_and_the_feed_goes_on(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        room = server.app[ROOMS].get(c.session["session"]["id"])
        assert room is not None
        recorder = room.system("recorder")

        def broken(*_: object) -> None:
            raise RuntimeError("the recorder broke")

        monkeypatch.setattr(recorder, "push", broken)
        failed = await c.practitioner.wait_for("recording", state="failed")
        assert "could not write" in failed["message"]
        assert server.app[RECORDINGS].get(started["recording_id"]).status == "failed"
        feed = room.feed("family", "video")
        before = feed.frames_in
        await asyncio.sleep(0.5)
        assert feed.live and feed.frames_in > before  # the family's feed was not stalled
