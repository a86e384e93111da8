"""A login flood neither stalls the server nor costs recorded frames; lost video is marked.

Password checks used to run on the event loop: 40 bad logins at once froze live video for
seconds, the server's receive buffer overflowed and the recording silently lost seconds of
video (and wrote frames whose references were gone).
"""

from __future__ import annotations

import asyncio
import json
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import av

from tests.conftest import PASSWORD, RunningServer, free_port
from tests.recording_helpers import call
from tests.support.av_timeline import Timeline, read_timeline, timeline_media
from tests.support.publisher import EncodedMedia, SimulatedFamily, encode_media
from tests.test_recording_durability import PASSWORD as CAROL_PASSWORD
from tests.test_recording_durability import cli, practitioner_token, server_process, vault_of
from vigremote.recording.writer import starts_cleanly
from vigremote.state import RECORDINGS, THROTTLE, VAULT
from vigremote.throttle import PER_PAIR

LOOP_S = 10
FPS = 30


@cache
def camera_media() -> EncodedMedia:
    """What a browser camera sends (1.5 Mbps): a stall of a few seconds overflows the
    server's UDP receive buffer."""
    return timeline_media(LOOP_S, fps=FPS, bit_rate=1_500_000, grain=True)


@cache
def light_media() -> EncodedMedia:
    return timeline_media(LOOP_S, fps=FPS)


async def bad_login(url: str, username: str, address: str = "127.0.0.1") -> aiohttp.ClientResponse:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        body = {"username": username, "password": "a wrong guess"}
        async with http.post(f"{url}/api/login", json=body) as response:
            await response.read()
            return response


async def good_login(url: str, username: str, address: str) -> int:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        body = {"username": username, "password": PASSWORD}
        async with http.post(f"{url}/api/login", json=body) as response:
            return response.status


# throttling, end to end ------------------------------------------------------------------------
async def test_a_burst_of_bad_logins_is_refused_before_hashing(server: RunningServer) -> None:
    server.add_user("alice")
    responses = await asyncio.gather(*(bad_login(server.url, "alice") for _ in range(30)))
    statuses = [r.status for r in responses]
    assert statuses.count(401) == PER_PAIR.free
    assert statuses.count(429) == 30 - PER_PAIR.free
    refused = next(r for r in responses if r.status == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    hashed = [a for a in server.store.audit_trail("user:alice") if a["action"] == "login-failed"]
    assert len(hashed) == PER_PAIR.free


async def test_the_right_person_still_gets_in_during_and_after_the_burst(
    server: RunningServer,
) -> None:
    server.add_user("alice")
    # The throttle's clock stands still, so a slow (loaded) machine cannot let the back-off
    # run out between the burst and the checks; then it jumps past the longest back-off.
    throttle = server.app[THROTTLE]
    frozen = throttle.clock()
    throttle.clock = lambda: frozen
    await asyncio.gather(*(bad_login(server.url, "alice") for _ in range(30)))
    # Alice, from her own address, while the attacker's address is blocked.
    assert await good_login(server.url, "alice", "127.0.0.2") == 200
    # From the attacker's address (a shared office network): only after the back-off.
    assert await good_login(server.url, "alice", "127.0.0.1") == 429
    throttle.clock = lambda: frozen + PER_PAIR.cap_s
    assert await good_login(server.url, "alice", "127.0.0.1") == 200


# a flood during a live recording ---------------------------------------------------------------
async def test_a_login_flood_during_a_recording_loses_no_frame(tmp_path: Path) -> None:
    """40 bad logins at once, each from its own address (the throttle lets them all reach
    Argon2), while a family at camera bit rate is recorded by a server in its own process."""
    data, port = tmp_path / "data", free_port()
    cli(data, "user", "add", "carol", "--password-stdin", stdin=CAROL_PASSWORD + "\n")
    created = json.loads(cli(data, "session", "create", "--owner", "carol", "--case-label", "F"))
    url, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
    async with server_process(data, port):
        family = SimulatedFamily(ws_url, created["family_link"].rsplit("/", 1)[1], camera_media())
        practitioner = SimulatedFamily(
            ws_url, await practitioner_token(port, created["session_id"])
        )
        try:
            await practitioner.join(with_media=False)
            await family.join()
            recording_id = await start_recording(family, practitioner)
            await asyncio.sleep(2.0)
            flood = [bad_login(url, "carol", f"127.0.0.{i + 2}") for i in range(40)]
            statuses = [r.status for r in await asyncio.gather(*flood)]
            await asyncio.sleep(2.0)
            await practitioner.send({"type": "record", "action": "stop"})
            await practitioner.wait_for("recording", state="stopped", timeout=20)
        finally:
            await family.close()
            await practitioner.close()
    assert statuses == [401] * 40  # every one was checked
    [segment] = (data / "cases" / created["case_id"] / recording_id).glob("segment-*")
    with vault_of(data) as vault, vault.open(segment) as sealed:
        timeline = read_timeline(sealed, loop_frames=LOOP_S * FPS, fps=FPS)
    assert_whole(timeline)


async def start_recording(family: SimulatedFamily, practitioner: SimulatedFamily) -> str:
    wording = json.loads(
        (Path(__file__).parents[1] / "vigremote/data/consent-wording.json").read_text()
    )
    await family.send({"type": "consent", "version": wording["version"], "purposes": ["analysis"]})
    await practitioner.wait_for("consent")
    await practitioner.send({"type": "record", "action": "start"})
    started = await practitioner.wait_for("recording", state="recording")
    return str(started["recording_id"])


def assert_whole(timeline: Timeline) -> None:
    assert timeline.frames > 4 * FPS, timeline
    assert timeline.undecodable == 0 and timeline.unreadable == 0, timeline
    assert timeline.frames_lost == 0, timeline
    assert timeline.clicks_matched >= 3, timeline
    assert timeline.worst_av_offset_ms <= 40, timeline


# whatever still loses video: marked, and audio stays in step -----------------------------------
class VideoHole:
    """Makes a publisher's video track lose frames on demand, while its audio carries on:
    `skip` frames are never sent (their RTP time jumps, as when the server's receive buffer
    overflowed), or `cut` frames are sent without their first bytes (as aiortc's jitter buffer
    hands on the tail of a frame whose first packets were lost)."""

    def __init__(self, family: SimulatedFamily) -> None:
        assert family.pc is not None
        track: Any = next(
            s.track for s in family.pc.getSenders() if s.track and s.track.kind == "video"
        )
        self.skip = self.skipped = self.cut = 0
        original = track.recv

        async def recv() -> Any:
            packet = await original()
            while self.skip > 0:
                self.skip -= 1
                self.skipped += 1
                packet = await original()
            if self.cut > 0 and not packet.is_keyframe:
                self.cut -= 1
                tail = av.Packet(bytes(packet)[len(bytes(packet)) // 3 :])
                tail.pts, tail.time_base = packet.pts, packet.time_base
                return tail
            return packet

        track.recv = recv


def test_a_frame_missing_its_first_packets_is_told_from_a_whole_one() -> None:
    for media in (light_media(), encode_media(frames=60, codec="H264")):
        frames = [data for data, _ in media.video]
        assert all(starts_cleanly(media.codec, data) for data in frames)
        tails = [data[k:] for data in frames for k in range(1, len(data), 50)]
        told = sum(not starts_cleanly(media.codec, tail) for tail in tails)
        # A tail that starts at the next H264 NAL unit looks whole, and nearly is.
        assert told >= (0.99 if media.codec == "VP8" else 0.9) * len(tails), media.codec


async def test_the_tail_of_a_frame_is_not_recorded(server: RunningServer) -> None:
    """Nothing that decodes to garbage is written: the recorder restarts at a keyframe."""
    async with call(server, light_media()) as c:
        hole = VideoHole(c.family)
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(1.2)
        hole.cut = 1
        await asyncio.sleep(2.5)
        await c.record(c.practitioner, "stop")
        [segment] = c.files(started["recording_id"])
    assert hole.cut == 0
    with server.app[VAULT].open(segment) as sealed:
        timeline = read_timeline(sealed, loop_frames=LOOP_S * FPS, fps=FPS)
    assert timeline.undecodable == 0 and timeline.unreadable == 0, timeline
    assert 1 <= timeline.frames_lost <= FPS, timeline  # up to the next keyframe


async def test_lost_video_is_marked_as_a_gap_and_audio_stays_in_step(
    server: RunningServer,
) -> None:
    async with call(server, light_media()) as c:
        hole = VideoHole(c.family)
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(1.5)
        hole.skip = 36  # 1.2 s of video never arrives
        await asyncio.sleep(4.0)
        await c.record(c.practitioner, "stop")
        [segment] = c.files(started["recording_id"])
        marks = server.app[RECORDINGS].marks(started["recording_id"])
    assert hole.skipped == 36
    gap = {m["kind"]: m["t_s"] for m in marks if m["kind"].startswith("gap")}
    assert set(gap) == {"gap-start", "gap-end"}, marks
    # The gap spans the lost frames and the wait for the next keyframe (at most 1 s here).
    assert 1.2 - 0.1 <= gap["gap-end"] - gap["gap-start"] <= 1.2 + 1.1, gap
    with server.app[VAULT].open(segment) as sealed:
        timeline = read_timeline(sealed, loop_frames=LOOP_S * FPS, fps=FPS)
    # No frame that refers to a lost one was written; what is missing is inside the gap.
    assert timeline.undecodable == 0 and timeline.unreadable == 0, timeline
    assert 36 <= timeline.frames_lost <= 36 + FPS, timeline
    assert abs(timeline.worst_video_hole_ms / 1000 - (gap["gap-end"] - gap["gap-start"])) < 0.1
    # Audio went on through the hole and the video after it is still in step with it.
    assert timeline.clicks_matched >= 3, timeline
    assert timeline.worst_av_offset_ms <= 40, timeline
