"""The shared review, driven over the protocol: everyone sees exactly the chosen frame."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import unpack_header_extensions

from tests.conftest import RunningServer
from tests.review_helpers import make_clips, review, shown_number
from tests.support.browser import launch_browser, new_desktop_context, read_video_frame_number
from tests.support.numbered_video import read_frame_number
from tests.support.recordings import make_recording
from tests.support.vaults import standalone_vault
from tests.test_e2e_filming import practitioner_logs_in
from tests.test_recording import decoded_numbers
from vigremote.media.aiortc_compat import PLAYOUT_DELAY_URI
from vigremote.media.passthrough import is_keyframe
from vigremote.paths import case_dir
from vigremote.review import clipmedia
from vigremote.review.clipmedia import ClipCodec, ClipMedia
from vigremote.state import CLIPS, SIGNER, VAULT


async def settled(review_clients: list, expected: int, timeout: float = 3.0) -> float:  # type: ignore[type-arg]
    """Wait until every viewer's last received picture is frame `expected`; returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(shown_number(c.clip_frames) == expected for c in review_clients):
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    got = [shown_number(c.clip_frames) for c in review_clients]
    raise AssertionError(f"viewers show {got}, expected {expected}")


async def test_pause_seek_and_step_show_the_same_exact_frame_to_everyone(
    server: RunningServer,
) -> None:
    async with review(server, [(75, 200), (10, 40)]) as r:
        viewers = [r.family, r.practitioner]
        first = r.clips[0]["first_frame"]
        # The first clip is shown paused on its first frame as soon as people join.
        await settled(viewers, first, timeout=10)

        state = await r.command(action="play")
        assert state["state"] == "playing"
        await asyncio.sleep(1.0)
        state = await r.command(action="pause")
        assert state["state"] == "paused"
        await settled(viewers, first + state["frame"])
        assert 15 <= state["frame"] <= 45  # about a second of 30 fps went by

        for action, expected in (
            ({"action": "seek", "frame": 47}, 47),  # off a keyframe (the clip's are 0 and 45)
            ({"action": "step", "delta": 1}, 48),
            ({"action": "step", "delta": -1}, 47),
            ({"action": "step", "delta": -1}, 46),
            ({"action": "seek", "frame": 44}, 44),  # back across a keyframe
            ({"action": "seek", "frame": 125}, 125),  # the last frame
        ):
            state = await r.command(**action)
            assert state["frame"] == expected
            await settled(viewers, first + expected)

        # Resume from a held frame: the pictures carry on in order, with no corruption.
        await r.command(action="seek", frame=50)
        await r.command(action="play")
        await asyncio.sleep(0.6)
        state = await r.command(action="pause")
        await settled(viewers, first + state["frame"])
        assert state["frame"] > 50

        # The next clip.
        state = await r.command(action="select", item=1)
        assert state["item"] == 1 and state["frame"] == 0
        await settled(viewers, r.clips[1]["first_frame"])


async def test_slow_motion_sends_frames_at_the_slower_pace(server: RunningServer) -> None:
    async with review(server, [(0, 299)]) as r:
        await settled([r.practitioner], 0, timeout=10)
        await r.command(action="speed", speed=0.5)
        before = len(r.practitioner.clip_frames)
        await r.command(action="play")
        await asyncio.sleep(2.0)
        state = await r.command(action="pause")
        sent = len(r.practitioner.clip_frames) - before
        assert 24 <= sent <= 40, sent  # 2 s at half of 30 fps
        assert 24 <= state["frame"] <= 40


async def test_the_family_asks_to_pause_and_cannot_drive(server: RunningServer) -> None:
    async with review(server, [(0, 299)]) as r:
        await r.command(action="play")
        await asyncio.sleep(0.7)
        before = len(r.family.messages)
        await r.family.send({"type": "review", "action": "play"})
        refused = await r.family.wait_for_any(("error",), after_index=before)
        assert refused["code"] == "not-allowed"
        await r.family.send({"type": "review", "action": "request-pause"})
        asked = await r.practitioner.wait_for("review-state", pause_request=None, after=0)
        request = None
        for _ in range(100):
            states = [m for m in r.practitioner.messages if m["type"] == "review-state"]
            request = states[-1]["pause_request"]
            if request:
                break
            await asyncio.sleep(0.02)
        assert request and request["by"] == "family" and asked
        state = await r.command(action="accept-pause")
        assert state["state"] == "paused" and state["frame"] == request["frame"]
        await settled([r.family, r.practitioner], r.clips[0]["first_frame"] + request["frame"])


async def test_the_family_never_receives_a_clip_url_or_file(server: RunningServer) -> None:
    async with review(server, [(75, 200)]) as r:
        await r.command(action="play")
        await asyncio.sleep(0.5)
        await r.command(action="pause")
        await asyncio.sleep(0.2)
        everything = json.dumps(r.family.messages)
        assert "/api/" not in everything
        assert ".webm" not in everything and ".mkv" not in everything
        # The pictures reached the family as video frames, not as a file.
        assert len(r.family.clip_frames) > 5
        # And a family's link opens no clip file: media needs a practitioner's login.
        family_token = r.session["family_link"].rsplit("/", 1)[1]
        async with aiohttp.ClientSession() as stranger:
            for url in (
                f"{server.url}/api/clips/{r.clips[0]['id']}/media",
                f"{server.url}/api/clips/{r.clips[0]['id']}/media?token={family_token}",
            ):
                async with stranger.get(
                    url, headers={"Authorization": f"Bearer {family_token}"}
                ) as response:
                    assert response.status == 401


async def test_clips_without_shared_review_consent_cannot_be_reviewed(
    server: RunningServer,
) -> None:
    http, csrf, case_id, clips = await make_clips(server, ["analysis"], [(10, 40)])
    try:
        async with http.post(
            f"{server.url}/api/cases/{case_id}/reviews",
            json={"items": [{"kind": "clip", "id": clips[0]["id"]}]},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "no-consent"
        async with http.get(f"{server.url}/api/cases/{case_id}") as response:
            kinds = [s["kind"] for s in (await response.json())["sessions"]]
        assert "review" not in kinds
    finally:
        await http.close()


async def test_a_recorded_review_replays_its_events_with_the_cameras(
    server: RunningServer,
) -> None:
    async with review(server, [(75, 200), (10, 40)], practitioner_camera=True) as r:
        started = await r.start_recording()
        await asyncio.sleep(1.0)
        await r.command(action="play")
        await asyncio.sleep(1.0)
        paused = await r.command(action="pause")
        await asyncio.sleep(0.5)
        await r.command(action="seek", frame=47)
        await asyncio.sleep(0.5)
        await r.command(action="select", item=1)
        await asyncio.sleep(1.0)
        await r.stop_recording()
        async with r.http.get(
            f"{server.url}/api/recordings/{started['recording_id']}/timeline"
        ) as response:
            assert response.status == 200
            timeline = await response.json()
        cameras: dict[str, bytes] = {}
        for camera in timeline["cameras"]:
            async with r.http.get(f"{server.url}{camera['media_url']}") as response:
                assert response.status == 200
                cameras[camera["publisher"]] = await response.read()
    events = timeline["events"]
    actions = [e["action"] for e in events]
    # What was on screen when recording began (clip 1, held on frame 0), then every command.
    assert actions == ["select", "seek", "play", "pause", "seek", "select"], actions
    assert events[0]["id"] == r.clips[0]["id"] and events[1]["frame"] == 0
    times = [e["t_s"] for e in events]
    assert times == sorted(times) and times[0] < 0.5 and times[2] >= 0.9
    assert events[3]["frame"] == paused["frame"]
    assert events[4]["frame"] == 47
    assert events[5]["id"] == r.clips[1]["id"]
    [chapter] = timeline["chapters"]
    assert abs(chapter["t_s"] - times[3]) < 0.05
    # Both cameras were recorded, on the same timeline, covering every event.
    assert sorted(cameras) == ["family", "practitioner"]
    for publisher, data in cameras.items():
        path = server.config.data_dir / f"replay-{publisher}.webm"
        path.write_bytes(data)
        numbers, frame_times = decoded_numbers(str(path))
        assert None not in numbers
        assert frame_times[-1] >= times[-1] - 0.3
    # In a browser, the replay page's chapter shows exactly the frame the review paused on.
    async with launch_browser() as browser:
        page = await (await new_desktop_context(browser)).new_page()
        await practitioner_logs_in(page, server, "alice")
        await page.goto(f"{server.url}/replay/{started['recording_id']}")
        await page.click("#chapters button")
        expected = r.clips[0]["first_frame"] + paused["frame"]
        seen = None
        for _ in range(100):
            seen = await read_video_frame_number(page, "#clip-video")
            if seen == expected:
                break
            await asyncio.sleep(0.05)
        assert seen == expected
        await browser.close()
    # The clips the review showed are listed with what the replay needs to seek exactly.
    assert set(timeline["clips"]) == {r.clips[0]["id"], r.clips[1]["id"]}
    assert len(timeline["clips"][r.clips[0]["id"]]["times_ms"]) == 126


async def test_stills_and_a_returning_participant_see_what_everyone_sees(
    server: RunningServer,
) -> None:
    async with review(server, [(75, 200)], still_frames=(133,)) as r:
        # A still is shown as one sharp picture, to everyone.
        state = await r.command(action="select", item=1)
        assert state["state"] == "still" and state["items"][1]["kind"] == "still"
        await settled([r.family, r.practitioner], 133)

        # Back to the clip, paused on a frame; the family's page reloads and comes back to it.
        await r.command(action="select", item=0)
        await r.command(action="seek", frame=30)
        await settled([r.family], 75 + 30)
        await r.family.pc.close()
        r.family.clip_frames.clear()
        await r.family.connect_media()
        await settled([r.family], 75 + 30, timeout=5)


class _CountingAv:
    """clipmedia's `av`, counting the packets its decoders are given."""

    def __init__(self) -> None:
        self.packets = 0
        counter = self

        class _Decoder:
            def __init__(self, real: Any) -> None:
                self._real = real

            def decode(self, packet: Any) -> Any:
                counter.packets += 1
                return self._real.decode(packet)

        class _CodecContext:
            @staticmethod
            def create(name: str, mode: str) -> Any:
                real = av.CodecContext.create(name, mode)
                return _Decoder(real) if mode == "r" else real

        self.CodecContext = _CodecContext

    def __getattr__(self, name: str) -> Any:
        return getattr(av, name)


def _numbers(packets: list[bytes]) -> list[int | None]:
    """The numbers drawn on frames decoded in order by one VP8 decoder."""
    decoder = av.CodecContext.create("vp8", "r")
    out: list[int | None] = []
    for data in packets:
        for picture in decoder.decode(av.Packet(data)):
            out.append(read_frame_number(picture.to_ndarray(format="rgb24")))
    return out


def test_a_step_back_decodes_nothing_again_and_playing_on_starts_with_a_keyframe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, folder = standalone_vault(tmp_path)
    path = folder / "clip.webm"
    make_recording(vault, path, frames=90, keyframe_every=60)
    media = ClipMedia.load(vault, path)
    counting = _CountingAv()
    monkeypatch.setattr(clipmedia, "av", counting)
    codec = ClipCodec(media, "VP8")

    assert _numbers([codec.hold(50)]) == [50]
    assert counting.packets == 51  # from the keyframe (frame 0) on
    # Stepping back and forth near the last hold: every picture was kept, nothing is decoded.
    counting.packets = 0
    assert [_numbers([codec.hold(n)])[0] for n in (49, 48, 49, 50)] == [49, 48, 49, 50]
    assert counting.packets == 0
    # Playing on after a hold starts with a keyframe of its own (at the clip's quality, not
    # the hold's), and the frames that follow it are exact.
    played = [codec.continue_from(n) for n in range(51, 56)]
    assert [is_keyframe("VP8", data) for data in played] == [True] + [False] * 4
    assert _numbers(played) == [51, 52, 53, 54, 55]
    assert counting.packets == 5


async def test_playing_from_a_clips_first_frame_sends_the_clips_own_packets(
    server: RunningServer,
) -> None:
    async with review(server, [(75, 200)]) as r:
        first = r.clips[0]["first_frame"]
        await settled([r.family], first, timeout=10)
        clip = server.app[CLIPS].clip(r.clips[0]["id"])
        media = ClipMedia.load(
            server.app[VAULT],
            case_dir(server.config.data_dir, clip.case_id) / "clips" / clip.file_name,
        )
        before = len(r.family.clip_frames)
        await r.command(action="play")
        await asyncio.sleep(0.8)
        state = await r.command(action="pause")
        sent = [frame.data for _, frame in r.family.clip_frames[before:]]
        # The held first frame's own packet again, then the clip's packets as they are: nothing
        # re-encoded on the way to the next original keyframe (the clip's 45th frame). (Before
        # it, the held sharp picture may have been sent again.)
        played = int(state["frame"])
        assert played >= 10 and media.video[0] in sent
        start = sent.index(media.video[0])
        assert sent[start : start + played] == media.video[:played]


PLAYOUT_DELAY_ID = 5  # the number Chromium gives the extension in its offers


def _offering_playout_delay(sdp: str) -> str:
    """An aiortc offer as Chrome's reads: every video m-line offers playout-delay."""
    sections = sdp.split("\r\nm=")
    for index, section in enumerate(sections[1:], start=1):
        if section.startswith("video"):
            line = f"a=extmap:{PLAYOUT_DELAY_ID} {PLAYOUT_DELAY_URI}"
            sections[index] = section.replace("\r\na=mid:", f"\r\n{line}\r\na=mid:", 1)
    return "\r\nm=".join(sections)


def _extensions(packet: bytes) -> dict[int, bytes]:
    """The header extensions of a plain (decrypted) RTP packet."""
    if not packet[0] & 0x10:
        return {}
    at = 12 + 4 * (packet[0] & 0x0F)
    profile, words = int.from_bytes(packet[at : at + 2]), int.from_bytes(packet[at + 2 : at + 4])
    return dict(unpack_header_extensions(profile, packet[at + 4 : at + 4 + 4 * words]))


async def test_the_clips_video_asks_the_browser_to_show_each_frame_at_once(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held frame is one frame: nothing follows it that a jitter buffer could wait for. The
    server answers the playout-delay extension browsers offer on the clip's video (min 0,
    max 0: show each frame once decoded), and on no other video."""
    received: list[tuple[Any, bytes]] = []
    original = RTCDtlsTransport._handle_rtp_data

    async def keep(self: Any, data: bytes, arrival_time_ms: int) -> None:
        received.append((self, data))
        await original(self, data, arrival_time_ms)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", keep)
    async with review(server, [(75, 200)]) as r:
        await settled([r.family], r.clips[0]["first_frame"], timeout=10)
        token = server.app[SIGNER].issue(r.session["session"]["id"], "observer", "o", "O", 600)
        async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
            await ws.send_json({"type": "hello", "version": 1, "token": token})
            welcome = await ws.receive_json()
            while welcome["type"] != "welcome":
                welcome = await ws.receive_json()
            pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
            for slot in welcome["slots"]:
                pc.addTransceiver(slot["kind"], direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send_json(
                {"type": "offer", "sdp": _offering_playout_delay(pc.localDescription.sdp)}
            )
            answer = await ws.receive_json()
            while answer["type"] != "answer":
                answer = await ws.receive_json()
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            sections = answer["sdp"].split("\r\nm=")[1:]
            names = [s["name"] + "/" + s["kind"] for s in welcome["slots"]]
            by_slot = dict(zip(names, sections, strict=True))
            assert PLAYOUT_DELAY_URI in by_slot["clip/video"]
            assert PLAYOUT_DELAY_URI not in by_slot["camera/video"]
            clip_ssrc = int(by_slot["clip/video"].split("\r\na=ssrc:")[1].split()[0])
            transport = pc.getTransceivers()[0].receiver.transport
            await r.command(action="seek", frame=30)  # a hold, while the observer is in
            for _ in range(200):
                clip = [
                    d
                    for t, d in received
                    if t is transport and int.from_bytes(d[8:12]) == clip_ssrc
                ]
                if clip:
                    break
                await asyncio.sleep(0.02)
            await pc.close()
    assert clip and all(_extensions(d).get(PLAYOUT_DELAY_ID) == b"\x00\x00\x00" for d in clip)
