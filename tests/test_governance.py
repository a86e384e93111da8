"""Information governance, end to end against a real server: nothing in plain form at rest,
tampering refused, byte ranges, retention with legal holds, export then erasure, the audit."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import RunningServer, login
from tests.review_helpers import make_clips, review
from vigremote.audit import AUDIT_SEAL_KEY, verify
from vigremote.governance.retention import DAY, sweep
from vigremote.keys import derive
from vigremote.paths import case_dir, recording_dir
from vigremote.state import CLIPS, RECORDINGS, STORE, VAULT
from vigremote.vault.sealed import is_sealed

LABEL = b"Family A"  # the case label the seeded recording's case gets (conftest.new_session)
TITLE, NOTES = "Zebedee smiles at the bubbles", "Mum waits for his cue: lovely pause"
CAPTION, BOOKMARK = "Shared gaze caption here", "Bookmark: dad names the feeling"
WITHDRAWAL_NOTE = "Phoned on Tuesday: no training please"


def every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def plain_hits(root: Path, needles: dict[str, bytes]) -> list[str]:
    """Which needle lies in plain form in which file of the data folder (DB, WAL, media…)."""
    found = []
    for path in every_file(root):
        data = path.read_bytes()
        found += [f"{name} in {path.relative_to(root)}" for name, n in needles.items() if n in data]
    return found


def packet_bytes(server: RunningServer, path: Path, count: int = 3) -> list[bytes]:
    """Slices of the first encoded video frames of a sealed media file (as the codec made them)."""
    with server.app[VAULT].open(path) as sealed, av.open(sealed, "r") as container:
        packets = [bytes(p) for p in container.demux(video=0) if p.size > 200]
    return [p[64:128] for p in packets[:count]]


async def test_nothing_of_a_family_lies_in_plain_form(server: RunningServer) -> None:
    """After a filming (with a bookmark), clips, a still, a recorded shared review, caches, a
    consent note and an export: no label, note or frame's encoded bytes anywhere in plain."""
    async with review(server, [(75, 200)], practitioner_camera=True, still_frames=(133,)) as r:
        headers = {"X-CSRF-Token": r.csrf}
        clip = r.clips[0]
        async with r.http.patch(
            f"{server.url}/api/clips/{clip['id']}",
            json={"title": TITLE, "notes": NOTES},
            headers=headers,
        ) as response:
            assert response.status == 200
        recording_id = clip["recording_id"]
        # The caches of micro-analysis: playback copy, frame index, thumbnails, sound.
        for part in ("", "/thumbnails", "/thumbnails.jpg", "/audio-activity", "/media"):
            async with r.http.get(f"{server.url}/api/recordings/{recording_id}{part}") as got:
                assert got.status == 200, part
                await got.read()
        async with r.http.post(
            f"{server.url}/api/recordings/{recording_id}/stills",
            json={"frame": 40, "caption": CAPTION},
            headers=headers,
        ) as response:
            assert response.status == 201
        # The shared review is recorded, with a bookmark typed by the practitioner.
        started = await r.start_recording()
        await r.command(action="play")
        await asyncio.sleep(1.5)
        await r.practitioner.send({"type": "bookmark", "note": BOOKMARK})
        await r.practitioner.wait_for("bookmarked")
        await r.command(action="pause")
        await r.stop_recording()
        async with r.http.post(
            f"{server.url}/api/cases/{r.case_id}/consent",
            json={
                "purposes": ["analysis", "shared_review", "supervision"],
                "how": "phone",
                "note": WITHDRAWAL_NOTE,
            },
            headers=headers,
        ) as response:
            assert response.status == 201, await response.text()
        async with r.http.post(
            f"{server.url}/api/cases/{r.case_id}/exports", headers=headers
        ) as response:
            assert response.status == 201

    data = server.config.data_dir
    review_recording = server.app[RECORDINGS].get(started["recording_id"])
    review_folder = recording_dir(data, review_recording.case_id, review_recording.id)
    segments = server.app[RECORDINGS].segments(review_recording.id)
    assert len(segments) == 2  # the family's camera and the practitioner's
    clip_file = case_dir(data, r.case_id) / "clips" / server.app[CLIPS].clip(clip["id"]).file_name
    filming = recording_dir(data, r.case_id, recording_id) / "segment-001.webm"
    frames = packet_bytes(server, filming) + packet_bytes(server, clip_file)
    frames += packet_bytes(server, review_folder / segments[0])
    needles = {
        "label": LABEL,
        "title": TITLE.encode(),
        "notes": NOTES.encode(),
        "caption": CAPTION.encode(),
        "bookmark": BOOKMARK.encode(),
        "consent note": WITHDRAWAL_NOTE.encode(),
        **{f"frame bytes {i}": f for i, f in enumerate(frames)},
    }
    assert plain_hits(data, needles) == []
    media = [p for p in every_file(data / "cases") if not p.name.endswith(".key")]
    assert len(media) >= 12 and all(is_sealed(p) for p in media)
    # The search is not blind: the texts are there, sealed, and open with the case's key.
    assert server.app[CLIPS].clip(clip["id"]).title == TITLE
    assert any(m["note"] == BOOKMARK for m in server.app[RECORDINGS].marks(review_recording.id))


async def test_tampered_media_is_refused_and_ranges_are_exact(server: RunningServer) -> None:
    http, csrf, case_id, clips = await make_clips(server, ["analysis"], [(10, 100)], (50,))
    try:
        clip = server.app[CLIPS].clip(clips[0]["id"])
        path = case_dir(server.config.data_dir, case_id) / "clips" / clip.file_name
        plain = server.app[VAULT].read_bytes(path)
        url = f"{server.url}/api/clips/{clip.id}/media"
        for asked, expected in (
            ("bytes=100-199", plain[100:200]),
            ("bytes=-50", plain[-50:]),
            (f"bytes={len(plain) - 10}-", plain[-10:]),
            ("bytes=0-", plain),
        ):
            async with http.get(url, headers={"Range": asked}) as response:
                assert response.status == 206, asked
                assert await response.read() == expected, asked
                assert response.headers["Content-Range"].endswith(f"/{len(plain)}")
        async with http.get(url) as response:
            assert response.status == 200 and await response.read() == plain
        async with http.get(url, headers={"Range": f"bytes={len(plain)}-"}) as response:
            assert response.status == 416

        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0x40  # one bit, in the middle of the film
        path.write_bytes(bytes(raw))
        async with http.get(url, headers={"Range": "bytes=0-99"}) as response:
            assert response.status == 206  # the first chunk is intact
        async with http.get(url) as response:
            body = await response.read() if response.status == 200 else b""
            assert response.status == 500 or len(body) < len(plain)  # never all of it
        async with http.get(url, headers={"Range": f"bytes={len(plain) // 2}-"}) as response:
            assert response.status == 500
            assert (await response.json())["error"]["code"] == "media-damaged"
        still = case_dir(server.config.data_dir, case_id) / "stills" / f"{clips[1]['id']}.png"
        still.write_bytes(still.read_bytes()[:-1])  # cut short by a byte
        async with http.get(f"{server.url}/api/stills/{clips[1]['id']}/image.png") as response:
            assert response.status == 500
    finally:
        await http.close()


async def _end_a_review(
    server: RunningServer, http: Any, csrf: str, case_id: str, clip_id: str
) -> float:
    async with http.post(
        f"{server.url}/api/cases/{case_id}/reviews",
        json={"items": [{"kind": "clip", "id": clip_id}]},
        headers={"X-CSRF-Token": csrf},
    ) as response:
        assert response.status == 201, await response.text()
        session_id = (await response.json())["session"]["id"]
    async with http.post(
        f"{server.url}/api/sessions/{session_id}/end", headers={"X-CSRF-Token": csrf}
    ) as response:
        assert response.status == 200
    ended = server.store.session(session_id).ended_at
    assert ended is not None
    return ended


async def test_retention_deletes_what_expired_and_a_legal_hold_keeps_it(
    server: RunningServer,
) -> None:
    config = server.config
    http, csrf, case_id, clips = await make_clips(
        server, ["analysis", "shared_review"], [(10, 100)], (50,)
    )
    headers = {"X-CSRF-Token": csrf}
    try:
        recording_id = clips[0]["recording_id"]
        folder = recording_dir(config.data_dir, case_id, recording_id)
        clip_name = server.app[CLIPS].clip(clips[0]["id"]).file_name
        clip_file = case_dir(config.data_dir, case_id) / "clips" / clip_name
        async with http.get(f"{server.url}/api/cases/{case_id}/governance") as response:
            assert (await response.json())["deletes"] == {}  # no shared review yet: no date
        review_ended = await _end_a_review(server, http, csrf, case_id, clips[0]["id"])
        raw_due = review_ended + config.retain_raw_days_after_review * DAY
        async with http.get(f"{server.url}/api/cases/{case_id}/governance") as response:
            body = await response.json()
        assert body["deletes"] == {recording_id: pytest.approx(raw_due)}

        assert await sweep(server.app, raw_due - 3600) == []
        assert (folder / "segment-001.webm").exists()
        # Days later, the warning is shown; on the day, the raw film goes, its clip stays.
        async with http.get(f"{server.url}/api/cases/{case_id}/governance") as response:
            assert (await response.json())["warnings"] == []
        gone = await sweep(server.app, raw_due + 3600)
        assert [(d.kind, d.id) for d in gone] == [("recording", recording_id)]
        assert not folder.exists() and clip_file.exists()
        assert server.app[RECORDINGS].get(recording_id).status == "expired"
        async with http.get(f"{server.url}/api/recordings/{recording_id}") as response:
            assert response.status == 409  # nothing of it is on disk any more
        async with http.get(f"{server.url}/api/clips/{clips[0]['id']}/media") as response:
            assert response.status == 200

        # The case is closed; a legal hold stops its erasure, lifting the hold lets it go.
        async with http.post(f"{server.url}/api/cases/{case_id}/close", headers=headers) as r:
            closed_at = (await r.json())["case"]["closed_at"]
        case_due = closed_at + config.retain_days_after_close * DAY
        async with http.get(f"{server.url}/api/cases/{case_id}/governance") as response:
            body = await response.json()
        assert body["deletes"]["case"] == pytest.approx(case_due)
        soon = await sweep_warnings(server, http, case_id, case_due - DAY)
        assert [w["kind"] for w in soon] == ["case"], (
            soon,
            recording_id,
            [(r.id, r.status) for r in server.app[RECORDINGS].of_case(case_id)],
        )
        async with http.put(
            f"{server.url}/api/cases/{case_id}/legal-hold",
            json={"reason": "Family court, case 123"},
            headers=headers,
        ) as response:
            assert response.status == 200
            assert (await response.json())["case"]["legal_hold"]["reason"].startswith("Family")
        assert await sweep(server.app, case_due + 10 * DAY) == []
        assert clip_file.exists() and server.store.case(case_id).label == "Family A"
        async with http.delete(
            f"{server.url}/api/cases/{case_id}", json={"confirm": "Family A"}, headers=headers
        ) as response:
            assert response.status == 409  # no erasure on hold either
        async with http.delete(
            f"{server.url}/api/cases/{case_id}/legal-hold", headers=headers
        ) as response:
            assert response.status == 200
        gone = await sweep(server.app, case_due + 10 * DAY)
        assert [d.kind for d in gone] == ["case"]
        assert not case_dir(config.data_dir, case_id).exists() or not any(
            case_dir(config.data_dir, case_id).iterdir()
        )
        actions = [e["action"] for e in server.store.audit_trail()]
        for done in ("recording-expired", "case-closed", "legal-hold-placed", "case-erased"):
            assert done in actions
    finally:
        await http.close()


async def sweep_warnings(
    server: RunningServer, http: Any, case_id: str, now: float
) -> list[dict[str, Any]]:
    from vigremote.governance.retention import warnings
    from vigremote.state import CONFIG, RECORDS

    case = server.store.case(case_id)
    return [w.to_json() for w in warnings(server.app[RECORDS], server.app[CONFIG], case, now)]


async def test_export_holds_everything_and_erasure_leaves_nothing(server: RunningServer) -> None:
    http, csrf, case_id, clips = await make_clips(
        server, ["analysis", "shared_review"], [(10, 100), (120, 150)], (50,)
    )
    headers = {"X-CSRF-Token": csrf}
    try:
        recording_id = clips[0]["recording_id"]
        async with http.get(f"{server.url}/api/recordings/{recording_id}") as response:
            assert response.status == 200  # a view, for the audit
        filming = recording_dir(server.config.data_dir, case_id, recording_id) / "segment-001.webm"
        frames = packet_bytes(server, filming)
        async with http.post(f"{server.url}/api/cases/{case_id}/exports", headers=headers) as r:
            assert r.status == 201
            download = (await r.json())["download_url"]
        async with http.get(server.url + download) as response:
            assert response.status == 200
            assert "attachment" in response.headers["Content-Disposition"]
            archive = zipfile.ZipFile(io.BytesIO(await response.read()))
        names = archive.namelist()
        index = archive.read("index.html").decode()
        assert "Family A" in index and "a look" in json.dumps(
            json.loads(archive.read("recordings.json"))
        )
        with av.open(io.BytesIO(archive.read(f"recordings/{recording_id}/segment-001.webm"))) as c:
            assert sum(1 for _ in c.decode(video=0)) == 300
        for clip in clips[:2]:
            name = server.app[CLIPS].clip(clip["id"]).file_name
            with av.open(io.BytesIO(archive.read(f"clips/{name}"))) as c:
                expected = clip["last_frame"] - clip["first_frame"] + 1
                assert sum(1 for _ in c.decode(video=0)) == expected
        with av.open(io.BytesIO(archive.read(f"stills/{clips[2]['id']}.png"))) as c:
            assert next(c.decode(video=0)).width == 320
        history = json.loads(archive.read("consent-history.json"))
        assert history and history[-1]["purposes"] == ["analysis", "shared_review"]
        audit = json.loads(archive.read("audit.json"))
        assert {"recording-opened", "clip-created"} <= {a["action"] for a in audit}
        assert {"sessions.json", "clips.json", "stills.json", "reviews.json"} <= set(names)

        async with http.get(f"{server.url}/api/cases/{case_id}/views") as response:
            views = (await response.json())["views"]
        assert {"recording-opened", "case-exported"} <= {v["action"] for v in views}
        assert all(v["actor_name"] == "Alice" for v in views)

        async with http.delete(
            f"{server.url}/api/cases/{case_id}", json={"confirm": "family a"}, headers=headers
        ) as response:
            assert response.status == 400  # the label, exactly
        async with http.delete(
            f"{server.url}/api/cases/{case_id}", json={"confirm": "Family A"}, headers=headers
        ) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["clips"] == 2
        data = server.config.data_dir
        needles = {"label": LABEL, "note": b"a look", **{f"f{i}": f for i, f in enumerate(frames)}}
        assert plain_hits(data, needles) == []
        db = server.store.db
        for table in ("cases", "sessions", "recordings", "clips", "stills", "case_consents"):
            column = "id" if table == "cases" else "case_id"
            count = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (case_id,))
            assert count.fetchone()[0] == 0, table
        assert (
            db.execute("SELECT COUNT(*) FROM data_keys WHERE case_id = ?", (case_id,)).fetchone()[0]
            == 0
        )
        assert (data / "vigremote.sqlite3-wal").stat().st_size < 64 * 1024  # truncated
        assert not case_dir(data, case_id).exists() or not any(case_dir(data, case_id).iterdir())
        tombstone = server.store.audit_trail(f"case:{case_id}")[-1]
        assert tombstone["action"] == "case-erased" and tombstone["detail"]["clips"] == 2
        async with http.get(f"{server.url}/api/cases/{case_id}") as response:
            assert response.status == 404
    finally:
        await http.close()


async def test_the_audit_page_is_for_admins_and_pruning_keeps_the_chain(
    server: RunningServer,
) -> None:
    import aiohttp

    server.add_user("alice")
    server.add_user("ada", role="admin")
    async with aiohttp.ClientSession() as alice, aiohttp.ClientSession() as ada:
        await login(alice, server, "alice")
        await login(ada, server, "ada")
        async with alice.get(f"{server.url}/api/audit") as response:
            assert response.status == 403
        async with ada.get(f"{server.url}/api/audit?action=login") as response:
            entries = (await response.json())["entries"]
        assert len(entries) == 2 and {e["action"] for e in entries} == {"login"}
        async with ada.get(f"{server.url}/api/audit?action=access-denied") as response:
            denied = (await response.json())["entries"]
        assert [e["object"] for e in denied] == ["audit"]  # alice's refused look was audited
    store = server.app[STORE]
    key = derive(server.config.master_key, AUDIT_SEAL_KEY)
    total = len(store.audit_trail())
    cut = store.audit_trail()[2]["at"]
    assert store.prune_audit(cut) >= 1
    assert verify(store.db, key).ok and len(store.audit_trail()) < total
    store.audit("x", "after-pruning", "y")
    assert verify(store.db, key).ok
    first = store.db.execute("SELECT MIN(id) FROM audit").fetchone()[0]
    store.db.execute("DELETE FROM audit WHERE id = ?", (first,))
    verdict = verify(store.db, key)
    assert not verdict.ok and f"entry {first} was removed" in (verdict.problem or "")


def test_retention_periods_are_told_to_the_family(tmp_path: Path) -> None:
    from vigremote.config import Config
    from vigremote.consent.store import family_wording, load_wordings

    config = Config(data_dir=tmp_path, retain_raw_days_after_review=45, retain_days_after_close=90)
    english = family_wording(load_wordings(), "en", "filming", config)["retention_text"]
    welsh = family_wording(load_wordings(), "cy", "filming", config)["retention_text"]
    assert "45 days" in english and "90 days" in english
    assert "45 diwrnod" in welsh and "90 diwrnod" in welsh
    own = Config(data_dir=tmp_path, retention_text="Kept {raw_days} days after review.")
    assert family_wording(load_wordings(), "cy", "filming", own)["retention_text"] == (
        "Kept 30 days after review."
    )


async def test_deletion_dates_follow_the_records(server: RunningServer) -> None:
    """A recorded shared review is kept its own period, counted from when it was made."""
    http, csrf, case_id, clips = await make_clips(server, ["analysis"], [(10, 20)])
    try:
        store = server.app[RECORDINGS]
        session = server.store.add_session(case_id, "review")
        consent_id = store.get(clips[0]["recording_id"]).consent_id
        made = store.add(case_id, session.id, consent_id, ["supervision"])
        store.set_status(made.id, "complete")
        ended = store.get(made.id).ended_at or time.time()
        async with http.get(f"{server.url}/api/cases/{case_id}/governance") as response:
            deletes = (await response.json())["deletes"]
        days = server.config.retain_review_recording_days
        assert deletes[made.id] == pytest.approx(ended + days * DAY)
    finally:
        await http.close()


async def test_the_cases_list_warns_of_what_is_deleted_soon(server: RunningServer) -> None:
    import aiohttp

    alice = server.add_user("alice")
    soon = server.store.add_case(alice.id, "Closed long ago")
    later = server.store.add_case(alice.id, "Closed last week")
    now = time.time()
    server.store.set_case_closed(soon.id, now - (server.config.retain_days_after_close - 5) * DAY)
    server.store.set_case_closed(later.id, now - 7 * DAY)
    async with aiohttp.ClientSession() as http:
        await login(http, server, "alice")
        async with http.get(f"{server.url}/api/retention/soon") as response:
            body = await response.json()
    assert list(body["cases"]) == [soon.id]
    assert body["cases"][soon.id] == pytest.approx(now + 5 * DAY, abs=60)
    server.store.set_legal_hold(soon.id, {"reason": "court", "by": "Alice", "at": now})
    async with aiohttp.ClientSession() as http:
        await login(http, server, "alice")
        async with http.get(f"{server.url}/api/retention/soon") as response:
            assert (await response.json())["cases"] == {}  # on hold: nothing goes
