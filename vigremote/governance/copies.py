"""Copies for the family: a time-limited, revocable page with their clips, off unless allowed.

Nothing leaves the service as a file unless two things hold, checked on every request (not only
when the page is made): the organisation allows downloads (`Config.downloads_allowed`, off by
default) and the family's *current* consent includes "copies". The practitioner then makes a
page for the family: a random address (only its SHA-256 is stored, as for logins) that lasts
`family_copies_days` and can be revoked at any time. The page lists the case's clips that the
family may see (their recordings' consent allows analysis); each streams with byte ranges and can
be saved. Every page made, revoked, opened, clip played and clip saved is audited.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import case_for_records_work
from vigremote.clips.analysis_api import first_request_of_a_play
from vigremote.consent.policy import allows
from vigremote.httpjson import error
from vigremote.paths import case_dir
from vigremote.state import CLIPS, CONFIG, CONSENTS, RECORDINGS, STORE, VAULT
from vigremote.storage import Case, new_id
from vigremote.vault.serve import sealed_response

DAY = 24 * 3600
SCHEMA = """
CREATE TABLE IF NOT EXISTS family_copies (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL
)"""


@dataclass(frozen=True)
class CopiesPage:
    id: str
    case_id: str
    created_at: float
    expires_at: float
    revoked_at: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


def ensure_table(db: sqlite3.Connection) -> None:
    db.execute(SCHEMA)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _page(row: sqlite3.Row) -> CopiesPage:
    return CopiesPage(
        row["id"], row["case_id"], row["created_at"], row["expires_at"], row["revoked_at"]
    )


def why_not(app: web.Application, case_id: str) -> str | None:
    """Why the family cannot have copies now (None: they can)."""
    if not app[CONFIG].downloads_allowed:
        return "your organisation does not allow copies or downloads"
    consent = app[CONSENTS].current(case_id)
    if consent is None or "copies" not in consent.purposes:
        return "the family has not agreed to keep copies of their clips"
    return None


def _owned(request: web.Request, case_id: str) -> Case:
    return case_for_records_work(request.app[STORE], current_user(request), case_id)


async def create_page(request: web.Request) -> web.Response:
    """Make a copies page for the family; its address is shown once."""
    case = _owned(request, request.match_info["case_id"])
    refused = why_not(request.app, case.id)
    if refused:
        raise error(403, "no-copies", f"No copies can be given: {refused}.")
    db, config = request.app[STORE].db, request.app[CONFIG]
    ensure_table(db)
    token, now = secrets.token_urlsafe(32), time.time()
    page = CopiesPage(new_id(), case.id, now, now + config.family_copies_days * DAY, None)
    user = current_user(request)
    with db:
        db.execute(
            "INSERT INTO family_copies VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (page.id, case.id, _digest(token), user.id, page.created_at, page.expires_at),
        )
    request.app[STORE].audit(user.id, "copies-page-made", f"case:{case.id}", page=page.id)
    url = f"{config.base_url}/c/{token}"
    return web.json_response({"page": page.to_json(), "url": url}, status=201)


async def list_pages(request: web.Request) -> web.Response:
    case = _owned(request, request.match_info["case_id"])
    db = request.app[STORE].db
    ensure_table(db)
    rows = db.execute(
        "SELECT * FROM family_copies WHERE case_id = ? ORDER BY created_at", (case.id,)
    ).fetchall()
    return web.json_response(
        {
            "pages": [_page(r).to_json() for r in rows],
            "refused": why_not(request.app, case.id),
            "days": request.app[CONFIG].family_copies_days,
        }
    )


async def revoke_page(request: web.Request) -> web.Response:
    db = request.app[STORE].db
    ensure_table(db)
    row = db.execute(
        "SELECT * FROM family_copies WHERE id = ?", (request.match_info["page_id"],)
    ).fetchone()
    if row is None:
        raise error(404, "not-found", "no such copies page")
    case = _owned(request, row["case_id"])
    with db:
        db.execute(
            "UPDATE family_copies SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (time.time(), row["id"]),
        )
    request.app[STORE].audit(
        current_user(request).id, "copies-page-revoked", f"case:{case.id}", page=row["id"]
    )
    return web.json_response({"revoked": row["id"]})


def _family_page(request: web.Request) -> CopiesPage:
    """The page of the token in the URL, if it still works now (else a clear 403/404)."""
    db = request.app[STORE].db
    ensure_table(db)
    row = db.execute(
        "SELECT * FROM family_copies WHERE token_digest = ?",
        (_digest(request.match_info["token"]),),
    ).fetchone()
    if row is None:
        raise error(
            404, "not-found", "This link does not work: ask your practitioner for a new one."
        )
    page = _page(row)
    if page.revoked_at is not None:
        raise error(403, "revoked", "This link was switched off by your practitioner.")
    if page.expires_at <= time.time():
        raise error(403, "expired", "This link has expired: ask your practitioner for a new one.")
    if why_not(request.app, page.case_id):
        raise error(403, "no-copies", "Copies are not available now: ask your practitioner.")
    return page


def _clips(request: web.Request, page: CopiesPage) -> list[tuple[str, str, float, Path]]:
    """(id, title, duration, file) of every clip the family's consent lets them have."""
    purposes = request.app[CONSENTS].current(page.case_id)
    have = purposes.purposes if purposes else ()
    folder = case_dir(request.app[CONFIG].data_dir, page.case_id) / "clips"
    found = []
    for clip in request.app[CLIPS].clips_of(page.case_id):
        recording = request.app[RECORDINGS].get(clip.recording_id)
        kind = request.app[STORE].session(recording.session_id).kind
        if allows(have, kind, "analyse"):
            found.append((clip.id, clip.title, clip.duration_s, folder / clip.file_name))
    return found


async def family_list(request: web.Request) -> web.Response:
    page = _family_page(request)
    token = request.match_info["token"]
    request.app[STORE].audit("family", "copies-page-opened", f"case:{page.case_id}", page=page.id)
    clips = [
        {
            "id": clip_id,
            "title": title,
            "duration_s": duration,
            "url": f"/api/copies/{token}/clips/{clip_id}",
            "download_url": f"/api/copies/{token}/clips/{clip_id}?save=1",
        }
        for clip_id, title, duration, _ in _clips(request, page)
    ]
    return web.json_response({"expires_at": page.expires_at, "clips": clips})


async def family_clip(request: web.Request) -> web.StreamResponse:
    page = _family_page(request)
    wanted = request.match_info["clip_id"]
    found = [c for c in _clips(request, page) if c[0] == wanted]
    if not found:
        raise error(404, "not-found", "This clip is not available.")
    clip_id, _, _, path = found[0]
    saving = request.query.get("save") == "1"
    headers = {"Cache-Control": "private, no-store"}
    if saving:
        headers["Content-Disposition"] = f'attachment; filename="clip-{clip_id[:8]}{path.suffix}"'
    if saving or first_request_of_a_play(request):
        action = "copy-saved" if saving else "copy-played"
        request.app[STORE].audit("family", action, f"clip:{clip_id}", page=page.id)
    return await sealed_response(request, request.app[VAULT], path, headers)


async def family_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[CONFIG].web_dir / "copies.html")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/cases/{case_id}/family-copies", create_page)
    app.router.add_get("/api/cases/{case_id}/family-copies", list_pages)
    app.router.add_delete("/api/family-copies/{page_id}", revoke_page)
    app.router.add_get("/api/copies/{token}", family_list)
    app.router.add_get("/api/copies/{token}/clips/{clip_id}", family_clip)
    app.router.add_get("/c/{token}", family_page)


def openapi_paths(op: Any, param: Any) -> dict[str, Any]:
    """This module's routes for /api/openapi.json (`op`, `param`: openapi.py's builders)."""
    token = [param("token")]

    def family(summary: str) -> dict[str, Any]:
        found: dict[str, Any] = op(summary, write=False)
        return found | {"security": []}  # the address is the key

    return {
        "/api/cases/{case_id}/family-copies": {
            "parameters": [param("case_id")],
            "get": op(
                "The family's copies pages, and why copies are refused if they are", write=False
            ),
            "post": op(
                "Make a time-limited copies page for the family (address shown once)", ok=201
            ),
        },
        "/api/family-copies/{page_id}": {
            "parameters": [param("page_id")],
            "delete": op("Revoke a copies page"),
        },
        "/api/copies/{token}": {"parameters": token, "get": family("The family's clips")},
        "/api/copies/{token}/clips/{clip_id}": {
            "parameters": [*token, param("clip_id")],
            "get": family("One clip, streamed with ranges (?save=1 to keep it)"),
        },
    }
