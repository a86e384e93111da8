"""A shared review ready to drive: a case with clips cut over the REST API, two clients."""

from __future__ import annotations

import asyncio
import bisect
import fractions
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import av

from tests.conftest import RunningServer, login
from tests.recording_helpers import media
from tests.support.numbered_video import read_frame_number
from tests.support.publisher import SimulatedFamily
from tests.support.recordings import seed_recording
from vigremote.paths import recording_dir
from vigremote.state import CONSENT_WORDING, RECORDINGS, SIGNER, VAULT


def last_picture(frames: list[tuple[float, Any]]) -> Any:
    """The last picture a viewer received (decoded from its last keyframe), or None."""
    if not frames:
        return None
    start = max((i for i, (_, f) in enumerate(frames) if f.keyframe), default=0)
    decoder = av.CodecContext.create("vp8", "r")
    picture = None
    for _, frame in frames[start:]:
        packet = av.Packet(frame.data)
        packet.time_base = fractions.Fraction(1, 90000)
        for decoded in decoder.decode(packet):
            picture = decoded
    return picture


def shown_number(frames: list[tuple[float, Any]]) -> int | None:
    """The number on the last picture a viewer received."""
    picture = last_picture(frames)
    return None if picture is None else read_frame_number(picture.to_ndarray(format="rgb24"))


@dataclass
class Review:
    server: RunningServer
    http: aiohttp.ClientSession
    csrf: str
    case_id: str
    clips: list[dict[str, Any]]
    session: dict[str, Any]
    family: SimulatedFamily
    practitioner: SimulatedFamily

    async def command(self, **fields: Any) -> dict[str, Any]:
        """Send a review command; returns the first review-state that shows it done (or the
        error it caused). Periodic "playing" updates may arrive in between and are skipped."""
        expected: dict[str, Any] = {
            "play": {"state": "playing"},
            "pause": {"state": "paused"},
            "accept-pause": {"state": "paused"},
            "seek": {"state": "paused", "frame": fields.get("frame")},
            "step": {"state": "paused"},
            "select": {"item": fields.get("item")},
            "speed": {"speed": fields.get("speed")},
            "loop": {"loop": fields.get("on")},
        }.get(fields.get("action", ""), {})
        before = len(self.practitioner.messages)
        await self.practitioner.send({"type": "review", **fields})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in self.practitioner.messages[before:]:
                if message["type"] == "error":
                    return message
                if message["type"] == "review-state" and all(
                    message.get(k) == v for k, v in expected.items()
                ):
                    return message
            await asyncio.sleep(0.01)
        raise AssertionError(f"no review-state showing {fields}: {self.practitioner.messages[-3:]}")

    async def start_recording(self) -> dict[str, Any]:
        """The family confirms in the call what they agreed to (supervision lets the review be
        recorded; analysis and shared review keep the clips on screen); recording starts."""
        version = self.server.app[CONSENT_WORDING]["version"]
        purposes = ["analysis", "shared_review", "supervision"]
        await self.family.send({"type": "consent", "version": version, "purposes": purposes})
        await self.practitioner.wait_for("consent", confirmed=True)
        await self.practitioner.send({"type": "record", "action": "start"})
        return await self.practitioner.wait_for("recording", state="recording")

    async def stop_recording(self) -> None:
        await self.practitioner.send({"type": "record", "action": "stop"})
        await self.practitioner.wait_for("recording", state="stopped")


async def make_clips(
    server: RunningServer,
    purposes: list[str],
    ranges: list[tuple[int, int]],
    still_frames: tuple[int, ...] = (),
) -> tuple[aiohttp.ClientSession, str, str, list[dict[str, Any]]]:
    """Clips (and stills, listed after them with kind "still") cut over the REST API."""
    owner = server.add_user("alice")
    recording = seed_recording(server, owner)
    # The recording was made with this consent (the seed uses analysis only).
    server.app[RECORDINGS]._db.execute(
        "UPDATE recordings SET purposes = ? WHERE id = ?",
        (json.dumps(purposes), recording.id),
    )
    from vigremote.state import CONSENTS

    server.app[CONSENTS].record(
        recording.case_id, purposes, "test", "family", session_id=recording.session_id
    )
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    csrf = await login(http, server, "alice")
    clips = []
    for first, last in ranges:
        async with http.post(
            f"{server.url}/api/recordings/{recording.id}/clips",
            json={"first": first, "last": last, "title": f"Clip {first}"},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
            clips.append({"kind": "clip", **(await response.json())["clip"]})
    for frame in still_frames:
        async with http.post(
            f"{server.url}/api/recordings/{recording.id}/stills",
            json={"frame": frame, "caption": f"Frame {frame}"},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
            clips.append({"kind": "still", **(await response.json())["still"]})
    return http, csrf, recording.case_id, clips


@dataclass
class ThreeViewerReview:
    """A shared review of clips, created over the REST API, and who may join it."""

    created: dict[str, Any]  # the create response: session, family_link, short_link
    session_id: str
    observer_token: str
    clips: list[dict[str, Any]]


async def review_for_three(
    server: RunningServer, ranges: list[tuple[int, int]]
) -> ThreeViewerReview:
    """Clips cut from the seeded recording, a review of them, and an observer's join token:
    what the end-to-end review tests open in a practitioner's, a family's and an observer's
    browser."""
    http, csrf, case_id, clips = await make_clips(server, ["analysis", "shared_review"], ranges)
    try:
        async with http.post(
            f"{server.url}/api/cases/{case_id}/reviews",
            json={"items": [{"kind": "clip", "id": c["id"]} for c in clips]},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
            created = await response.json()
    finally:
        await http.close()
    session_id = created["session"]["id"]
    token = server.app[SIGNER].issue(session_id, "observer", "obs-1", "Observer", 600)
    return ThreeViewerReview(created, session_id, token, clips)


@asynccontextmanager
async def review(
    server: RunningServer,
    ranges: list[tuple[int, int]],
    practitioner_camera: bool = False,
    still_frames: tuple[int, ...] = (),
) -> AsyncIterator[Review]:
    http, csrf, case_id, clips = await make_clips(
        server, ["analysis", "shared_review", "supervision"], ranges, still_frames
    )
    try:
        items = [{"kind": c["kind"], "id": c["id"]} for c in clips]
        async with http.post(
            f"{server.url}/api/cases/{case_id}/reviews",
            json={"items": items},
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
            session = await response.json()
        async with http.post(
            f"{server.url}/api/sessions/{session['session']['id']}/join-token",
            headers={"X-CSRF-Token": csrf},
        ) as response:
            token = (await response.json())["token"]
        family_token = session["family_link"].rsplit("/", 1)[1]
        practitioner = SimulatedFamily(
            server.ws_url, token, media() if practitioner_camera else None
        )
        family = SimulatedFamily(server.ws_url, family_token, media())
        await practitioner.join()
        await family.join()
        yield Review(server, http, csrf, case_id, clips, session, family, practitioner)
        await family.close()
        await practitioner.close()
    finally:
        await http.close()


@dataclass
class RecordedReviewMade:
    """A shared review recorded with both cameras: paused on `paused_frame` of the clip from
    `held_from_s` to `held_until_s` (the recording's clock), then moved on to frame 47."""

    recording_id: str
    clip: dict[str, Any]
    paused_frame: int
    held_from_s: float
    held_until_s: float
    frame_while_held: int = 0  # a frame of the family's camera in the middle of that pause


async def record_a_review(server: RunningServer) -> RecordedReviewMade:
    """Alice records a shared review of one clip (frames 30-90), with both cameras on."""
    async with review(server, [(30, 90)], practitioner_camera=True) as r:
        started = await r.start_recording()
        await asyncio.sleep(1.0)
        await r.command(action="play")
        await asyncio.sleep(0.8)
        paused = await r.command(action="pause")
        await asyncio.sleep(1.5)
        await r.command(action="seek", frame=47)
        await asyncio.sleep(1.0)
        await r.stop_recording()
    marks = server.app[RECORDINGS].marks(started["recording_id"], "review")
    actions = [(m["t_s"], json.loads(m["note"])) for m in marks]
    held_from = next(t for t, e in actions if e["action"] == "pause")
    held_until = next(t for t, e in actions if e["action"] == "seek" and e["frame"] == 47)
    made = RecordedReviewMade(
        started["recording_id"], r.clips[0], paused["frame"], held_from, held_until
    )
    _, times = _decoded_cameras(server, made)["family"]
    made.frame_while_held = bisect.bisect_right(times, (held_from + held_until) / 2) - 1
    return made


def _decoded_cameras(
    server: RunningServer, made: RecordedReviewMade
) -> dict[str, tuple[list[int | None], list[float]]]:
    from tests.test_recording import decoded_numbers

    recording = server.app[RECORDINGS].get(made.recording_id)
    folder = recording_dir(server.config.data_dir, recording.case_id, recording.id)
    decoded = {}
    for name in server.app[RECORDINGS].segments(recording.id):
        with server.app[VAULT].open(folder / name) as sealed:
            decoded[name.split("-", 1)[0]] = decoded_numbers(sealed)
    return decoded


def recorded_pictures(
    server: RunningServer, made: RecordedReviewMade
) -> tuple[int, Callable[[int], dict[str, int]]]:
    """The family camera's frame count, and what a call playing the recorded review shows at
    each of its frames (the leading camera's): each camera's number and the clip's, by slot.
    Only moments after the review paused are asked for: the clip was held then."""
    decoded = _decoded_cameras(server, made)
    family_numbers, family_times = decoded["family"]
    others_numbers, others_times = decoded["practitioner"]

    def expected_at(frame: int) -> dict[str, int]:
        t = family_times[frame]
        assert made.held_from_s < t, "only moments after the review paused are asked for"
        other = max(0, bisect.bisect_right(others_times, t + 0.0005) - 1)
        clip_frame = made.paused_frame if t < made.held_until_s else 47
        family, practitioner = family_numbers[frame], others_numbers[other]
        assert family is not None and practitioner is not None
        return {
            "clip": made.clip["first_frame"] + clip_frame,
            "recorded-family": family,
            "recorded-practitioner": practitioner,
        }

    return len(family_times), expected_at
