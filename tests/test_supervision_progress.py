"""Ratings, progress and the portfolio (supervision/ratings.py, progress.py, portfolio.py): a
seeded history gives the expected figures and milestone states; another organisation's scale
is loaded and used with no code change; sign-off freezes a supervision; only the trainee, their
supervisor and admins see any of it; the portfolio opens as HTML with the chart in it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import RunningServer, start_server
from tests.test_supervision import logged_in
from vigremote.records import Records
from vigremote.state import RATINGS, RECORDS, STORE, SUPERVISION
from vigremote.storage import User

DAY = 86400
OTHER_SCALE = {
    "name": "Another organisation's scale",
    "items": [
        {"id": "attune", "label": "Attuned responses"},
        {"id": "deepen", "label": "Deepening discussion"},
        {"id": "own", "label": "Family owns the change"},
    ],
    "levels": [
        {"value": 0, "label": "absent"},
        {"value": 1, "label": "present"},
        {"value": 2, "label": "skilled"},
    ],
}
SCHEME = {
    "scheme": "Test scheme",
    "targets": {"families": 6, "cycles": 18, "supervision_hours": 15, "peer_supervisions": 2},
    "milestones": [
        {
            "id": "mid-point",
            "label": "Mid-point review",
            "needs": {"families": 2, "cycles": 2, "supervision_hours": 1.5, "peer_supervisions": 1},
        },
        {
            "id": "accreditation",
            "label": "Accreditation",
            "needs": {"families": 6, "cycles": 18, "supervision_hours": 15, "peer_supervisions": 2},
        },
    ],
}


@pytest.fixture
async def scheme_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server with its own accreditation scheme's figures (a file, as `--accreditation`)."""
    path = tmp_path / "scheme.json"
    path.write_text(json.dumps(SCHEME))
    runner, running = await start_server(tmp_path / "data", accreditation_file=path)
    yield running
    await runner.cleanup()


def filming(records: Records, case_id: str, at: float, status: str = "complete") -> None:
    session = records.store.add_session(case_id, "filming")
    recording = records.recordings.add(case_id, session.id, "consent", ["analysis"])
    records.recordings.set_status(recording.id, status)
    records.store.db.execute(
        "UPDATE recordings SET started_at = ? WHERE id = ?", (at, recording.id)
    )


def review(records: Records, case_id: str, at: float, ended: bool = True) -> None:
    session = records.store.add_session(case_id, "review")
    if ended:
        records.store.end_session(session.id)
    records.store.db.execute("UPDATE sessions SET created_at = ? WHERE id = ?", (at, session.id))


def seed_history_in(records: Records, trainee: User) -> None:
    """Three families: three cycles and an unfinished one; a failed filming; an open review."""
    t0 = 1_750_000_000.0
    a = records.store.add_case(trainee.id, "Family A").id
    filming(records, a, t0)
    review(records, a, t0 + 7 * DAY)
    filming(records, a, t0 + 14 * DAY)
    filming(records, a, t0 + 15 * DAY)
    review(records, a, t0 + 21 * DAY)  # completes the cycle of the 15th day's filming
    review(records, a, t0 + 22 * DAY)  # ... and this one the 14th day's
    filming(records, a, t0 + 30 * DAY)  # not reviewed yet
    b = records.store.add_case(trainee.id, "Family B").id
    filming(records, b, t0, status="failed")  # nothing recorded: not a family worked with
    review(records, b, t0 + DAY)
    c = records.store.add_case(trainee.id, "Family C").id
    filming(records, c, t0)
    review(records, c, t0 + DAY, ended=False)  # still open: no cycle yet


async def test_progress_comes_from_the_records_and_the_schemes_figures(
    scheme_server: RunningServer,
) -> None:
    server = scheme_server
    alice = server.add_user("alice")
    bob = server.add_user("bob")
    sam = server.add_user("sam", role="supervisor")
    server.add_user("sue", role="supervisor")
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    seed_history_in(server.app[RECORDS], alice)
    async with (
        logged_in(server, "sam") as as_sam,
        logged_in(server, "sue") as as_sue,
        logged_in(server, "bob") as as_bob,
        logged_in(server, "alice") as as_alice,
    ):
        entries = "/api/trainees/{}/supervisions"
        status, body = await as_sam(
            "POST", entries.format(alice.id), {"kind": "face-to-face", "duration_minutes": 90}
        )
        assert status == 201
        status, _ = await as_sam(
            "POST", entries.format(alice.id), {"kind": "peer", "duration_minutes": 60}
        )
        assert status == 201
        status, _ = await as_alice(
            "POST", entries.format(alice.id), {"kind": "face-to-face", "duration_minutes": 60}
        )
        assert status == 403  # hours are entered by the supervisor
        status, _ = await as_sam(
            "POST", entries.format(alice.id), {"kind": "face-to-face", "duration_minutes": 0}
        )
        assert status == 400

        status, progress = await as_alice("GET", f"/api/trainees/{alice.id}/progress")
        assert status == 200
        assert progress["figures"] == {
            "families": 2,
            "cycles": 3,
            "supervision_hours": 1.5,
            "peer_supervisions": 1,
        }
        states = {m["id"]: (m["reached"], m["missing"]) for m in progress["milestones"]}
        assert states == {
            "mid-point": (True, {}),
            "accreditation": (
                False,
                {"families": 4, "cycles": 15, "supervision_hours": 13.5, "peer_supervisions": 1},
            ),
        }
        status, _ = await as_sam("GET", f"/api/trainees/{alice.id}/progress")
        assert status == 200
        for stranger in (as_sue, as_bob):
            status, _ = await stranger("GET", f"/api/trainees/{alice.id}/progress")
            assert status == 403
        status, _ = await as_bob("GET", f"/api/trainees/{bob.id}/progress")
        assert status == 200


async def test_another_scale_is_loaded_rated_signed_off_and_drawn(server: RunningServer) -> None:
    alice = server.add_user("alice")
    sam = server.add_user("sam", role="supervisor")
    server.add_user("ada", role="admin")
    server.app[SUPERVISION].link(alice.id, sam.id, "test")
    async with (
        logged_in(server, "sam") as as_sam,
        logged_in(server, "alice") as as_alice,
        logged_in(server, "ada") as as_ada,
    ):
        status, body = await as_alice("GET", "/api/sds/scale")
        assert len(body["scale"]["items"]) == 13  # the shipped placeholder
        status, _ = await as_sam("PUT", "/api/sds/scale", OTHER_SCALE)
        assert status == 403
        status, body = await as_ada(
            "PUT", "/api/sds/scale", {"name": "x", "items": [], "levels": []}
        )
        assert status == 400 and body["error"]["code"] == "bad-scale"
        status, _ = await as_ada("PUT", "/api/sds/scale", OTHER_SCALE)
        assert status == 200

        status, body = await as_sam(
            "POST",
            f"/api/trainees/{alice.id}/supervisions",
            {"kind": "face-to-face", "duration_minutes": 50},
        )
        entry = body["supervision"]["id"]
        ratings = f"/api/supervisions/{entry}/ratings"
        status, body = await as_alice("PUT", ratings, {"values": {"noticing": 3}})
        assert status == 400  # the old scale's items
        status, body = await as_alice(
            "PUT", ratings, {"values": {"attune": 1, "deepen": 3, "own": 0}}
        )
        assert status == 400  # 3 is not a level of this scale
        status, _ = await as_alice("PUT", ratings, {"values": {"attune": 1, "deepen": 1, "own": 0}})
        assert status == 200
        sign_off = f"/api/supervisions/{entry}/sign-off"
        status, body = await as_sam("POST", sign_off)
        assert status == 409 and body["error"]["code"] == "not-ready"
        status, _ = await as_sam("PUT", ratings, {"values": {"attune": 2, "deepen": 1, "own": 1}})
        assert status == 200
        status, _ = await as_alice(
            "PUT",
            f"/api/supervisions/{entry}/agreement",
            {"strengths": "Warm pacing", "next_steps": "Name feelings"},
        )
        assert status == 200
        status, _ = await as_alice("POST", sign_off)
        assert status == 403
        status, body = await as_sam("POST", sign_off)
        assert status == 200 and body["supervision"]["signed_off_at"]
        status, body = await as_alice(
            "PUT", ratings, {"values": {"attune": 2, "deepen": 2, "own": 2}}
        )
        assert status == 409

        status, body = await as_sam("GET", f"/api/trainees/{alice.id}/supervisions")
        [logged] = body["supervisions"]
        assert logged["ratings"]["self"]["values"] == {"attune": 1, "deepen": 1, "own": 0}
        assert logged["ratings"]["supervisor"]["values"] == {"attune": 2, "deepen": 1, "own": 1}

        status, svg = await as_alice("GET", f"/api/trainees/{alice.id}/ratings.svg")
        assert status == 200 and svg.startswith(b"<svg")
        for label in ("Attuned responses", "Deepening discussion", "Family owns the change"):
            assert label.encode() in svg
        assert svg.count(b"<circle") == 6  # 3 items x (self + supervisor)

        status, html = await as_sam("GET", f"/api/trainees/{alice.id}/portfolio.html")
        assert status == 200
    page = PortfolioPage()
    page.feed(html.decode())
    assert page.title == "Portfolio of Alice"
    assert "Warm pacing" in page.text and "Name feelings" in page.text
    assert page.svgs == 1 and page.tables >= 4
    assert "portfolio-exported" in [e["action"] for e in server.app[STORE].audit_trail()]
    assert server.app[RATINGS].current_scale()[1]["name"] == OTHER_SCALE["name"]


class PortfolioPage(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title, self.text, self.svgs, self.tables = "", "", 0, 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_title = tag == "title"
        self.svgs += tag == "svg"
        self.tables += tag == "table"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and not self.title:  # the page's own, not the chart's
            self.title = data
        self.text += data


async def test_the_organisations_scale_file_is_used_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    path.write_text(json.dumps(OTHER_SCALE))
    runner, server = await start_server(tmp_path / "data", sds_scale_file=path)
    try:
        server.add_user("alice")
        async with logged_in(server, "alice") as as_alice:
            status, body = await as_alice("GET", "/api/sds/scale")
        assert status == 200 and body["scale"]["name"] == OTHER_SCALE["name"]
        assert [i["id"] for i in body["scale"]["items"]] == ["attune", "deepen", "own"]
    finally:
        await runner.cleanup()
