"""The micro-analysis REST API on a real server, with a real (numbered-frame) recording.

Opening a recording, playback media, thumbnails, audio activity, clips cut at exact frames,
stills, the tag vocabulary; bad input that changes nothing; who may see what.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from tests.conftest import RunningServer, login
from tests.support.numbered_video import read_frame_number
from tests.support.recordings import make_recording
from tests.support.vaults import standalone_vault
from tests.test_recording import decoded_numbers
from vigremote.clips.store import DEFAULT_TAGS
from vigremote.paths import case_dir, recording_dir
from vigremote.state import CLIPS, CONSENT_WORDING, CONSENTS, RECORDINGS, VAULT
from vigremote.storage import User
from vigremote.vault.sealed import SealedFile

CSRF = "X-CSRF-Token"
FRAMES = 300
SEGMENT = "segment-001.webm"


# fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recording_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Made once per module (the real recorder writer, sealed in a vault of its own); each
    test seals its plaintext again into its server's vault, under the case's key."""
    vault, folder = standalone_vault(tmp_path_factory.mktemp("recording"))
    make_recording(vault, folder / SEGMENT, frames=FRAMES, fps=30, keyframe_every=60)
    return vault.read_bytes(folder / SEGMENT)


@pytest.fixture(scope="module")
def truncated_bytes(recording_bytes: bytes) -> bytes:
    """The same file cut at 60% of its bytes: a recording still being written, or a crash."""
    return recording_bytes[: int(len(recording_bytes) * 0.6)]


@dataclass
class Seeded:
    owner: User
    case_id: str
    session_id: str
    recording_id: str
    folder: Path
    # The segment's file while the recorder still writes it (status "recording"): on disk,
    # its end not yet marked; the test closes it.
    writing: SealedFile | None = None


def seed_recording(
    server: RunningServer,
    owner: User,
    data: bytes,
    status: str = "complete",
    case_id: str | None = None,
    session_id: str | None = None,
) -> Seeded:
    if case_id is None or session_id is None:
        created = server.new_session(owner)
        case_id, session_id = created["case_id"], created["session"]["id"]
    version = server.app[CONSENT_WORDING]["version"]
    consent = server.app[CONSENTS].record(
        case_id, ["analysis"], version, "family", session_id=session_id
    )
    recordings = server.app[RECORDINGS]
    recording = recordings.add(case_id, session_id, consent.id, ["analysis"])
    folder = recording_dir(server.config.data_dir, case_id, recording.id)
    writing = None
    if status == "recording":  # as the recorder leaves it between two seals
        writing = server.app[VAULT].create(folder / SEGMENT)
        writing.write(data)
        writing.flush()
    else:
        server.app[VAULT].write_bytes(folder / SEGMENT, data)
    recordings.add_segment(recording.id, 1, SEGMENT, "VP8")
    if status != "recording":
        recordings.set_status(recording.id, status)
    return Seeded(owner, case_id, session_id, recording.id, folder, writing)


@pytest.fixture
async def seeded(server: RunningServer, recording_bytes: bytes) -> Seeded:
    owner = server.add_user("alice")
    seeded = seed_recording(server, owner, recording_bytes)
    recordings = server.app[RECORDINGS]
    recordings.add_mark(seeded.recording_id, 4.0, "bookmark", "the smile", owner.id)
    recordings.add_mark(seeded.recording_id, 1.5, "bookmark", "she looks up", owner.id)
    recordings.add_mark(seeded.recording_id, 3.0, "pause", "", owner.id)
    return seeded


class Client:
    """A logged-in browser: its own cookie jar and CSRF token."""

    def __init__(self, server: RunningServer, http: aiohttp.ClientSession, csrf: str) -> None:
        self.server, self.http, self.csrf = server, http, csrf

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if csrf and method not in ("GET", "HEAD"):
            sent[CSRF] = self.csrf
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
            return self.http.request(method, self.server.url + path, data=data, headers=sent)
        return self.http.request(method, self.server.url + path, json=body, headers=sent)

    async def json(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.request(method, path, body) as response:
            assert response.status == status, (method, path, await response.text())
            return await response.json()

    async def bytes(self, path: str, status: int = 200) -> bytes:
        async with self.request("GET", path) as response:
            assert response.status == status, (path, await response.text())
            return bytes(await response.read())


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[list[aiohttp.ClientSession]]:
    sessions: list[aiohttp.ClientSession] = []
    yield sessions
    for session in sessions:
        await session.close()


async def logged_in(
    server: RunningServer, clients: list[aiohttp.ClientSession], name: str
) -> Client:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    clients.append(http)
    return Client(server, http, await login(http, server, name))


@pytest.fixture
async def alice(
    server: RunningServer, seeded: Seeded, clients: list[aiohttp.ClientSession]
) -> Client:
    return await logged_in(server, clients, "alice")


async def error_of(response: aiohttp.ClientResponse, status: int, code: str) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return str(message)


# helpers ---------------------------------------------------------------------------------------
def numbers_in(data: bytes, tmp_path: Path, name: str) -> list[int | None]:
    path = tmp_path / name
    path.write_bytes(data)
    numbers, _ = decoded_numbers(str(path))
    return numbers


def png_number(data: bytes) -> int | None:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with av.open(io.BytesIO(data)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return read_frame_number(image)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a baseline/progressive JPEG's SOF marker."""
    assert data[:2] == b"\xff\xd8"
    at = 2
    while at < len(data):
        assert data[at] == 0xFF, at
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    raise AssertionError("no SOF marker")


def clip_rows(server: RunningServer) -> int:
    return int(server.store._db.execute("SELECT count(*) FROM clips").fetchone()[0])


def still_rows(server: RunningServer) -> int:
    return int(server.store._db.execute("SELECT count(*) FROM stills").fetchone()[0])


def files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def clips_folder(server: RunningServer, case_id: str) -> Path:
    return case_dir(server.config.data_dir, case_id) / "clips"


async def new_clip(client: Client, recording_id: str, first: int, last: int, **extra: Any) -> Any:
    body = {"first": first, "last": last, "title": f"{first}-{last}", **extra}
    created = await client.json("POST", f"/api/recordings/{recording_id}/clips", body, 201)
    return created["clip"]


# opening a recording ---------------------------------------------------------------------------
async def test_open_recording_lists_every_frame_keyframes_and_bookmarks(
    server: RunningServer, seeded: Seeded, alice: Client
) -> None:
    body = await alice.json("GET", f"/api/recordings/{seeded.recording_id}")
    assert body["id"] == seeded.recording_id and body["status"] == "complete"
    frames = body["frames"]
    assert frames["count"] == FRAMES
    assert frames["keyframes"] == [0, 60, 120, 180, 240]
    times = frames["times_ms"]
    assert len(times) == FRAMES
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    assert times[0] == 0 and abs(times[-1] - 299 * 1000 / 30) <= 1
    assert frames["codec"] == "vp8" and (frames["width"], frames["height"]) == (320, 240)
    assert [(b["t_s"], b["note"]) for b in body["bookmarks"]] == [
        (1.5, "she looks up"),
        (4.0, "the smile"),
    ]
    assert [m["kind"] for m in body["marks"]] == ["bookmark", "pause", "bookmark"]
    assert body["media_url"] == f"/api/recordings/{seeded.recording_id}/media"
    trail = server.store.audit_trail(f"recording:{seeded.recording_id}")
    assert [(e["action"], e["actor"]) for e in trail] == [("recording-opened", seeded.owner.id)]
    # Opening again uses the caches and gives the same answer.
    again = await alice.json("GET", f"/api/recordings/{seeded.recording_id}")
    assert again["frames"] == frames


async def test_media_plays_whole_and_by_range(
    seeded: Seeded, alice: Client, tmp_path: Path
) -> None:
    path = f"/api/recordings/{seeded.recording_id}/media"
    async with alice.request("GET", path) as response:
        assert response.status == 200
        assert response.content_type == "video/webm"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers.get("Accept-Ranges") == "bytes"
        whole = await response.read()
    assert numbers_in(whole, tmp_path, "whole.webm") == list(range(FRAMES))

    async with alice.request("GET", path, headers={"Range": "bytes=100-1099"}) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
        part = await response.read()
    assert part == whole[100:1100]
    async with alice.request("GET", path, headers={"Range": "bytes=-500"}) as response:
        assert response.status == 206
        assert await response.read() == whole[-500:]


async def test_thumbnails_and_audio_activity(seeded: Seeded, alice: Client) -> None:
    base = f"/api/recordings/{seeded.recording_id}"
    info = await alice.json("GET", f"{base}/thumbnails")
    assert info["count"] == 5
    assert info["times_s"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert info["width"] == 160 and info["height"] == 120
    assert info["sprite_url"] == f"{base}/thumbnails.jpg"
    sprite = await alice.bytes(f"{base}/thumbnails.jpg")
    assert sprite.startswith(b"\xff\xd8")
    assert jpeg_size(sprite) == (info["count"] * 160, info["height"])

    audio = await alice.json("GET", f"{base}/audio-activity")
    levels = audio["levels"]
    assert audio["bucket_s"] == 0.1
    assert 95 <= len(levels) <= 101
    assert all(0.0 <= level <= 1.0 for level in levels)
    # A steady tone at about -15 dBFS all the way through: loud, not silence.
    assert sum(level > 0.5 for level in levels) >= len(levels) - 2


# clips -----------------------------------------------------------------------------------------
async def test_clips_are_cut_exactly_listed_edited_reordered_and_deleted(
    server: RunningServer, seeded: Seeded, alice: Client, tmp_path: Path
) -> None:
    rec = seeded.recording_id
    first = await new_clip(alice, rec, 75, 200, tags=["Guiding"], notes="  turn taking  ")
    second = await new_clip(alice, rec, 60, 120)
    third = await new_clip(alice, rec, 0, 10)
    assert (first["first_frame"], first["last_frame"], first["frames"]) == (75, 200, 126)
    assert first["tags"] == ["Guiding"] and first["notes"] == "turn taking"
    assert first["case_id"] == seeded.case_id and first["recording_id"] == rec
    assert first["start_s"] == 2.5 and abs(first["duration_s"] - 125 / 30) < 0.01

    for clip, (lo, hi) in ((first, (75, 200)), (second, (60, 120)), (third, (0, 10))):
        data = await alice.bytes(f"/api/clips/{clip['id']}/media")
        assert numbers_in(data, tmp_path, f"{clip['id']}.webm") == list(range(lo, hi + 1))
        assert png_number(await alice.bytes(f"/api/clips/{clip['id']}/poster.png")) == lo
    assert (await alice.json("GET", f"/api/clips/{first['id']}"))["clip"] == first
    viewed = server.store.audit_trail(f"clip:{first['id']}")
    assert [e["action"] for e in viewed] == ["clip-created", "clip-viewed"]

    folder = clips_folder(server, seeded.case_id)
    # Each clip is its file and its poster, readable by the server's user only.
    expected = {f"{c['id']}.{ext}" for c in (first, second, third) for ext in ("webm", "png")}
    assert set(files_under(folder)) == expected
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())

    listed = (await alice.json("GET", f"/api/cases/{seeded.case_id}/clips"))["clips"]
    assert [c["id"] for c in listed] == [first["id"], second["id"], third["id"]]
    assert [c["position"] for c in listed] == [0, 1, 2]
    assert all(c["poster_url"] == f"/api/clips/{c['id']}/poster.png" for c in listed)

    # Rename, re-tag, re-note.
    changes = {"title": "  Mum follows  ", "tags": ["Being attentive", "Guiding"], "notes": "x"}
    changed = (await alice.json("PATCH", f"/api/clips/{second['id']}", changes))["clip"]
    assert changed["title"] == "Mum follows"
    assert changed["tags"] == ["Being attentive", "Guiding"] and changed["notes"] == "x"
    assert (changed["first_frame"], changed["last_frame"]) == (60, 120)

    # Move the last clip to the front; the others close up behind it.
    await alice.json("PATCH", f"/api/clips/{third['id']}", {"position": 0})
    listed = (await alice.json("GET", f"/api/cases/{seeded.case_id}/clips"))["clips"]
    assert [c["id"] for c in listed] == [third["id"], first["id"], second["id"]]
    assert [c["position"] for c in listed] == [0, 1, 2]
    await alice.json("PATCH", f"/api/clips/{third['id']}", {"position": 99})
    listed = (await alice.json("GET", f"/api/cases/{seeded.case_id}/clips"))["clips"]
    assert [c["id"] for c in listed] == [first["id"], second["id"], third["id"]]

    # Re-trim: the file (and its poster) is cut again.
    trimmed = (await alice.json("PATCH", f"/api/clips/{first['id']}", {"first": 130}))["clip"]
    assert (trimmed["first_frame"], trimmed["last_frame"], trimmed["frames"]) == (130, 200, 71)
    assert trimmed["title"] == "75-200" and trimmed["tags"] == ["Guiding"]
    data = await alice.bytes(f"/api/clips/{first['id']}/media")
    assert numbers_in(data, tmp_path, "trimmed.webm") == list(range(130, 201))
    assert png_number(await alice.bytes(f"/api/clips/{first['id']}/poster.png")) == 130
    trimmed = (await alice.json("PATCH", f"/api/clips/{first['id']}", {"first": 119, "last": 121}))[
        "clip"
    ]
    assert trimmed["start_s"] == round(119 / 30, 3)
    data = await alice.bytes(f"/api/clips/{first['id']}/media")
    assert numbers_in(data, tmp_path, "trimmed2.webm") == [119, 120, 121]

    # Delete: gone from the list, the API and the disk.
    assert set(files_under(folder)) == expected
    assert any(name.startswith(first["id"]) for name in files_under(folder))
    deleted = await alice.json("DELETE", f"/api/clips/{first['id']}")
    assert deleted == {"deleted": first["id"]}
    for path in (f"/api/clips/{first['id']}", f"/api/clips/{first['id']}/media"):
        async with alice.request("GET", path) as response:
            await error_of(response, 404, "not-found")
    async with alice.request("DELETE", f"/api/clips/{first['id']}") as response:
        await error_of(response, 404, "not-found")
    assert set(files_under(folder)) == expected - {f"{first['id']}.webm", f"{first['id']}.png"}
    listed = (await alice.json("GET", f"/api/cases/{seeded.case_id}/clips"))["clips"]
    assert [c["id"] for c in listed] == [second["id"], third["id"]]
    trail = [e["action"] for e in server.store.audit_trail(f"clip:{first['id']}")]
    assert trail[0] == "clip-created" and trail[-1] == "clip-deleted"
    assert trail.count("clip-changed") == 2


# stills ----------------------------------------------------------------------------------------
async def test_stills_are_the_exact_frame(
    server: RunningServer, seeded: Seeded, alice: Client
) -> None:
    rec = seeded.recording_id
    created = await alice.json(
        "POST", f"/api/recordings/{rec}/stills", {"frame": 133, "caption": " eye contact "}, 201
    )
    still = created["still"]
    assert still["frame"] == 133 and still["caption"] == "eye contact"
    assert still["time_s"] == round(133 / 30, 3)
    image_url = f"/api/stills/{still['id']}/image.png"
    assert png_number(await alice.bytes(image_url)) == 133
    other = (await alice.json("POST", f"/api/recordings/{rec}/stills", {"frame": 299}, 201))[
        "still"
    ]
    assert png_number(await alice.bytes(f"/api/stills/{other['id']}/image.png")) == 299

    listed = (await alice.json("GET", f"/api/cases/{seeded.case_id}/stills"))["stills"]
    assert [s["id"] for s in listed] == [still["id"], other["id"]]
    assert listed[0]["image_url"] == image_url

    for bad, code in [
        ({"frame": 300}, "bad-frames"),
        ({"frame": -1}, "bad-frames"),
        ({"frame": "133"}, "bad-field"),
        ({"frame": True}, "bad-field"),
        ({"frame": 133.0}, "bad-field"),
        ({}, "bad-field"),
    ]:
        async with alice.request("POST", f"/api/recordings/{rec}/stills", bad) as response:
            await error_of(response, 400, code)
    async with alice.request(
        "POST", f"/api/recordings/{rec}/stills", {"frame": 1, "caption": "x" * 301}
    ) as response:
        await error_of(response, 400, "bad-field")
    assert still_rows(server) == 2

    folder = case_dir(server.config.data_dir, seeded.case_id) / "stills"
    assert files_under(folder) == sorted([f"{still['id']}.png", f"{other['id']}.png"])
    assert await alice.json("DELETE", f"/api/stills/{still['id']}") == {"deleted": still["id"]}
    async with alice.request("GET", image_url) as response:
        await error_of(response, 404, "not-found")
    assert files_under(folder) == [f"{other['id']}.png"]
    listed = (await alice.json("GET", f"/api/cases/{seeded.case_id}/stills"))["stills"]
    assert [s["id"] for s in listed] == [other["id"]]
    actions = [e["action"] for e in server.store.audit_trail(f"still:{still['id']}")]
    # Seeing the picture is audited (the "who has seen" list), as is making and deleting it.
    assert actions == ["still-created", "still-viewed", "still-deleted"]


# tags ------------------------------------------------------------------------------------------
async def test_tag_vocabulary_defaults_and_only_an_admin_changes_it(
    server: RunningServer, seeded: Seeded, alice: Client, clients: list[aiohttp.ClientSession]
) -> None:
    rec = seeded.recording_id
    tags = (await alice.json("GET", "/api/tags"))["tags"]
    assert tags == list(DEFAULT_TAGS) and len(tags) == 6

    body = {"first": 0, "last": 5, "title": "t", "tags": ["Guiding", "Mind-reading"]}
    async with alice.request("POST", f"/api/recordings/{rec}/clips", body) as response:
        message = await error_of(response, 400, "unknown-tag")
    assert "Mind-reading" in message
    assert clip_rows(server) == 0 and files_under(clips_folder(server, seeded.case_id)) == []

    new_tags = {"tags": [*DEFAULT_TAGS, " Mind-reading ", "Mind-reading"]}
    async with alice.request("PUT", "/api/tags", new_tags) as response:
        await error_of(response, 403, "forbidden")
    assert server.app[CLIPS].tags() == list(DEFAULT_TAGS)

    server.add_user("root", role="admin")
    root = await logged_in(server, clients, "root")
    async with root.request("PUT", "/api/tags", new_tags, csrf=False) as response:
        await error_of(response, 403, "csrf")
    for bad in ({"tags": []}, {"tags": "Guiding"}, {"tags": ["  "]}, {"tags": ["x" * 61]}, {}):
        async with root.request("PUT", "/api/tags", bad) as response:
            await error_of(response, 400, "bad-field")
    assert server.app[CLIPS].tags() == list(DEFAULT_TAGS)
    changed = await root.json("PUT", "/api/tags", new_tags)
    assert changed["tags"] == [*DEFAULT_TAGS, "Mind-reading"]
    assert (await alice.json("GET", "/api/tags"))["tags"] == changed["tags"]
    assert [e["action"] for e in server.store.audit_trail("tags")] == ["tags-changed"]

    clip = await new_clip(alice, rec, 0, 5, tags=["Mind-reading", "Guiding", "Mind-reading"])
    assert clip["tags"] == ["Mind-reading", "Guiding"]
    # An admin holds no cases: they cannot open a practitioner's recording or clips.
    async with root.request("GET", f"/api/recordings/{rec}") as response:
        await error_of(response, 403, "forbidden")
    async with root.request("GET", f"/api/clips/{clip['id']}/media") as response:
        await error_of(response, 403, "forbidden")


# bad input -------------------------------------------------------------------------------------
GOOD = {"first": 10, "last": 20, "title": "ok"}
BAD_CLIPS: list[tuple[dict[str, Any], str]] = [
    ({**GOOD, "first": 21}, "bad-frames"),  # first > last
    ({**GOOD, "last": 300}, "bad-frames"),  # past the last frame
    ({**GOOD, "last": 10_000}, "bad-frames"),
    ({**GOOD, "first": -1}, "bad-frames"),
    ({**GOOD, "first": 10.0}, "bad-field"),
    ({**GOOD, "first": "10"}, "bad-field"),
    ({**GOOD, "last": True}, "bad-field"),
    ({**GOOD, "first": None}, "bad-field"),
    ({"last": 20, "title": "ok"}, "bad-field"),
    ({"first": 10, "last": 20}, "bad-field"),  # no title
    ({**GOOD, "title": "   "}, "bad-field"),
    ({**GOOD, "title": 7}, "bad-field"),
    ({**GOOD, "title": "x" * 121}, "bad-field"),
    ({**GOOD, "notes": "x" * 2001}, "bad-field"),
    ({**GOOD, "notes": ["x"]}, "bad-field"),
    ({**GOOD, "tags": "Guiding"}, "bad-field"),
    ({**GOOD, "tags": [1]}, "bad-field"),
]


async def test_a_bad_clip_request_is_400_and_creates_nothing(
    server: RunningServer, seeded: Seeded, alice: Client
) -> None:
    path = f"/api/recordings/{seeded.recording_id}/clips"
    for body, code in BAD_CLIPS:
        async with alice.request("POST", path, body) as response:
            message = await error_of(response, 400, code)
        assert "'" in message or "frames must" in message, message  # says which field
    for data in (b"{not json", b"[1, 2]", b"\xff\xfe", b'"a string"'):
        for target in (path, f"/api/recordings/{seeded.recording_id}/stills"):
            async with alice.request("POST", target, data=data) as response:
                await error_of(response, 400, "bad-json")
    assert clip_rows(server) == 0 and still_rows(server) == 0
    assert files_under(clips_folder(server, seeded.case_id)) == []
    assert files_under(case_dir(server.config.data_dir, seeded.case_id) / "stills") == []
    actions = {e["action"] for e in server.store.audit_trail()}
    assert not actions & {"clip-created", "still-created"}
    # And a good request right after still works.
    assert (await new_clip(alice, seeded.recording_id, 10, 20))["frames"] == 11


async def test_a_write_without_the_csrf_header_is_403_and_changes_nothing(
    server: RunningServer, seeded: Seeded, alice: Client
) -> None:
    rec = seeded.recording_id
    clip = await new_clip(alice, rec, 10, 20)
    still = (await alice.json("POST", f"/api/recordings/{rec}/stills", {"frame": 5}, 201))["still"]
    writes = [
        ("POST", f"/api/recordings/{rec}/clips", GOOD),
        ("POST", f"/api/recordings/{rec}/stills", {"frame": 3}),
        ("PATCH", f"/api/clips/{clip['id']}", {"title": "changed", "first": 12}),
        ("DELETE", f"/api/clips/{clip['id']}", None),
        ("DELETE", f"/api/stills/{still['id']}", None),
        ("PUT", "/api/tags", {"tags": ["a"]}),
    ]
    folder = clips_folder(server, seeded.case_id)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for method, path, body in writes:
        for headers in ({}, {CSRF: "wrong"}):
            async with alice.request(method, path, body, csrf=False, headers=headers) as r:
                await error_of(r, 403, "csrf")
    assert clip_rows(server) == 1 and still_rows(server) == 1
    assert (await alice.json("GET", f"/api/clips/{clip['id']}"))["clip"] == clip
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert server.app[CLIPS].tags() == list(DEFAULT_TAGS)


async def test_a_bad_edit_is_400_and_changes_nothing(
    server: RunningServer, seeded: Seeded, alice: Client, tmp_path: Path
) -> None:
    clip = await new_clip(alice, seeded.recording_id, 75, 130, tags=["Guiding"])
    other = await new_clip(alice, seeded.recording_id, 0, 3)
    folder = clips_folder(server, seeded.case_id)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    path = f"/api/clips/{clip['id']}"
    for body, code in [
        ({"first": 131}, "bad-frames"),
        ({"last": 74}, "bad-frames"),
        ({"last": 300}, "bad-frames"),
        ({"first": -5}, "bad-frames"),
        ({"first": "80"}, "bad-field"),
        ({"last": False}, "bad-field"),
        ({"title": ""}, "bad-field"),
        ({"title": "x" * 121}, "bad-field"),
        ({"tags": ["Nope"]}, "unknown-tag"),
        ({"notes": 3}, "bad-field"),
        ({"position": "first"}, "bad-field"),
        ({"position": 1.5}, "bad-field"),
        # A good change together with a bad one: neither is made.
        ({"title": "renamed", "position": "first"}, "bad-field"),
        ({"title": "renamed", "first": 299}, "bad-frames"),
        ({"first": 80, "position": None}, "bad-field"),
        ({"title": "renamed", "tags": ["Nope"]}, "unknown-tag"),
    ]:
        async with alice.request("PATCH", path, body) as response:
            await error_of(response, 400, code)
    async with alice.request("PATCH", path, data=b"{oops") as response:
        await error_of(response, 400, "bad-json")
    assert (await alice.json("GET", path))["clip"] == clip
    assert (await alice.json("GET", f"/api/clips/{other['id']}"))["clip"] == other
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    data = await alice.bytes(f"{path}/media")
    assert numbers_in(data, tmp_path, "unchanged.webm") == list(range(75, 131))


# access ----------------------------------------------------------------------------------------
async def test_another_practitioner_is_refused_everywhere_and_it_is_audited(
    server: RunningServer, seeded: Seeded, alice: Client, clients: list[aiohttp.ClientSession]
) -> None:
    rec = seeded.recording_id
    clip = await new_clip(alice, rec, 10, 20)
    still = (await alice.json("POST", f"/api/recordings/{rec}/stills", {"frame": 5}, 201))["still"]
    mallory_user = server.add_user("mallory")
    server.new_session(mallory_user, "Mallory's family")  # holds a case of her own
    mallory = await logged_in(server, clients, "mallory")
    routes: list[tuple[str, str, Any]] = [
        ("GET", f"/api/recordings/{rec}", None),
        ("GET", f"/api/recordings/{rec}/media", None),
        ("GET", f"/api/recordings/{rec}/thumbnails", None),
        ("GET", f"/api/recordings/{rec}/thumbnails.jpg", None),
        ("GET", f"/api/recordings/{rec}/audio-activity", None),
        ("POST", f"/api/recordings/{rec}/clips", GOOD),
        ("POST", f"/api/recordings/{rec}/stills", {"frame": 1}),
        ("GET", f"/api/cases/{seeded.case_id}/clips", None),
        ("GET", f"/api/cases/{seeded.case_id}/stills", None),
        ("GET", f"/api/clips/{clip['id']}", None),
        ("PATCH", f"/api/clips/{clip['id']}", {"title": "mine", "first": 11}),
        ("DELETE", f"/api/clips/{clip['id']}", None),
        ("GET", f"/api/clips/{clip['id']}/poster.png", None),
        ("GET", f"/api/clips/{clip['id']}/media", None),
        ("GET", f"/api/stills/{still['id']}/image.png", None),
        ("DELETE", f"/api/stills/{still['id']}", None),
    ]
    folder = clips_folder(server, seeded.case_id)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for method, path, body in routes:
        async with mallory.request(method, path, body) as response:
            message = await error_of(response, 403, "forbidden")
            assert "another practitioner" in message
    denied = [
        e
        for e in server.store.audit_trail(f"case:{seeded.case_id}")
        if e["action"] == "access-denied"
    ]
    assert len(denied) == len(routes)
    assert {e["actor"] for e in denied} == {mallory_user.id}
    # Nothing was made, changed, or opened in her name.
    assert clip_rows(server) == 1 and still_rows(server) == 1
    assert (await alice.json("GET", f"/api/clips/{clip['id']}"))["clip"] == clip
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    hers = [e for e in server.store.audit_trail() if e["actor"] == mallory_user.id]
    assert {e["action"] for e in hers} == {"session-created", "login", "access-denied"}


async def test_unknown_ids_are_404(
    server: RunningServer, seeded: Seeded, alice: Client, clients: list[aiohttp.ClientSession]
) -> None:
    missing = "A" * 22
    for method, path, body in [
        ("GET", f"/api/recordings/{missing}", None),
        ("GET", f"/api/recordings/{missing}/media", None),
        ("GET", f"/api/recordings/{missing}/thumbnails", None),
        ("GET", f"/api/recordings/{missing}/thumbnails.jpg", None),
        ("GET", f"/api/recordings/{missing}/audio-activity", None),
        ("GET", "/api/recordings/..%2F..%2Fetc", None),
        ("POST", f"/api/recordings/{missing}/clips", GOOD),
        ("POST", f"/api/recordings/{missing}/stills", {"frame": 1}),
        ("GET", f"/api/cases/{missing}/clips", None),
        ("GET", f"/api/cases/{missing}/stills", None),
        ("GET", f"/api/clips/{missing}", None),
        ("PATCH", f"/api/clips/{missing}", {"title": "x"}),
        ("DELETE", f"/api/clips/{missing}", None),
        ("GET", f"/api/clips/{missing}/poster.png", None),
        ("GET", f"/api/clips/{missing}/media", None),
        ("GET", f"/api/stills/{missing}/image.png", None),
        ("DELETE", f"/api/stills/{missing}", None),
    ]:
        async with alice.request(method, path, body) as response:
            await error_of(response, 404, "not-found")
    assert clip_rows(server) == 0 and still_rows(server) == 0

    # Logged out: 401 before anything is looked up.
    anonymous = aiohttp.ClientSession()
    clients.append(anonymous)
    for path in (f"/api/recordings/{seeded.recording_id}", "/api/tags"):
        async with anonymous.get(server.url + path) as response:
            await error_of(response, 401, "not-logged-in")


async def test_a_recording_with_nothing_on_disk_is_409(
    server: RunningServer, seeded: Seeded, alice: Client
) -> None:
    (seeded.folder / SEGMENT).unlink()
    for suffix in ("", "/media", "/thumbnails", "/audio-activity"):
        async with alice.request("GET", f"/api/recordings/{seeded.recording_id}{suffix}") as r:
            await error_of(r, 409, "no-media")
    async with alice.request("POST", f"/api/recordings/{seeded.recording_id}/clips", GOOD) as r:
        await error_of(r, 409, "no-media")
    assert clip_rows(server) == 0


# a recording still being written, or cut short by a crash ---------------------------------------
async def test_a_partial_recording_can_be_reviewed_and_cut(
    server: RunningServer,
    seeded: Seeded,
    alice: Client,
    truncated_bytes: bytes,
    recording_bytes: bytes,
    tmp_path: Path,
) -> None:
    partial = seed_recording(
        server,
        seeded.owner,
        truncated_bytes,
        status="recording",
        case_id=seeded.case_id,
        session_id=seeded.session_id,
    )
    assert partial.writing is not None
    with partial.writing as writing:  # the recorder is still writing it
        body = await alice.json("GET", f"/api/recordings/{partial.recording_id}")
        assert body["status"] == "recording"
        count = body["frames"]["count"]
        assert 100 <= count <= 299, count
        assert body["frames"]["keyframes"] == [k for k in (0, 60, 120, 180, 240) if k < count]
        data = await alice.bytes(f"/api/recordings/{partial.recording_id}/media")
        assert numbers_in(data, tmp_path, "partial.webm") == list(range(count))
        thumbs = await alice.json("GET", f"/api/recordings/{partial.recording_id}/thumbnails")
        assert thumbs["count"] == len(body["frames"]["keyframes"])
        audio = await alice.json("GET", f"/api/recordings/{partial.recording_id}/audio-activity")
        assert 0 < len(audio["levels"]) < 100

        last = count - 1
        clip = await new_clip(alice, partial.recording_id, 70, last)
        media = await alice.bytes(f"/api/clips/{clip['id']}/media")
        assert numbers_in(media, tmp_path, "partial-clip.webm") == list(range(70, last + 1))
        async with alice.request(
            "POST", f"/api/recordings/{partial.recording_id}/clips", {**GOOD, "last": count}
        ) as response:
            await error_of(response, 400, "bad-frames")

        # The recording grows (the rest arrives): the index and playback follow it.
        writing.seek(0)
        writing.write(recording_bytes)
        writing.flush()
        grown = await alice.json("GET", f"/api/recordings/{partial.recording_id}")
        assert grown["frames"]["count"] == FRAMES
        thumbs = await alice.json("GET", f"/api/recordings/{partial.recording_id}/thumbnails")
        assert thumbs["count"] == 5
        audio = await alice.json("GET", f"/api/recordings/{partial.recording_id}/audio-activity")
        assert len(audio["levels"]) >= 95
        clip = await new_clip(alice, partial.recording_id, 250, 299)
        media = await alice.bytes(f"/api/clips/{clip['id']}/media")
        assert numbers_in(media, tmp_path, "grown-clip.webm") == list(range(250, 300))
