"""Short family links and their QR codes: a ~290-character link cannot be typed or read aloud.

Each family link issued (see cases.family_link) gets an 8-character code; `/j/<code>` sends the
family on to the full link. Only the session's newest code works: issuing a link replaces it, as
it revokes the older link. The practitioner's case page shows the short link as text and as a
QR code rendered here (segno, pure Python), so nothing is fetched from another site.
"""

from __future__ import annotations

import io
import math
import secrets
import sqlite3

import segno
from aiohttp import web

from vigremote.state import CODE_GUESSES, STORE
from vigremote.throttle import GuessThrottle

# No 0/O, 1/I/L: read aloud or typed from a screen, the code must not be misread.
# 31 symbols x 8 = about 40 bits; only the few open sessions' codes are live at a time.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS family_codes (
    code TEXT PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE,
    link TEXT NOT NULL
)
"""


def ensure_table(db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def replace_code(db: sqlite3.Connection, session_id: str, link: str) -> str:
    """Give the session's newest link a fresh code; the old code stops working."""
    ensure_table(db)
    db.execute("DELETE FROM family_codes WHERE session_id = ?", (session_id,))
    while True:
        code = new_code()
        try:
            db.execute(
                "INSERT INTO family_codes (code, session_id, link) VALUES (?, ?, ?)",
                (code, session_id, link),
            )
            return code
        except sqlite3.IntegrityError:  # clashes with another session's code: draw again
            continue


def link_for_code(db: sqlite3.Connection, code: str) -> str | None:
    ensure_table(db)
    row = db.execute(
        "SELECT link FROM family_codes WHERE code = ?", (code.strip().upper(),)
    ).fetchone()
    return None if row is None else str(row[0])


def code_of_session(db: sqlite3.Connection, session_id: str) -> str | None:
    ensure_table(db)
    row = db.execute("SELECT code FROM family_codes WHERE session_id = ?", (session_id,)).fetchone()
    return None if row is None else str(row[0])


def short_link(base_url: str, code: str) -> str:
    return f"{base_url}/j/{code}"


async def follow_code(request: web.Request) -> web.StreamResponse:
    """The short link: on to the full family link, or to the family page that says what to do
    with a wrong or replaced link (never a bare 404)."""
    guesses, address = request.app[CODE_GUESSES], request.remote or ""
    wait_s = guesses.wait_s(address)
    if wait_s > 0:  # someone is trying codes: look nothing up, tell a real family to wait
        seconds = str(math.ceil(wait_s))
        raise web.HTTPFound(f"/f/?wait={seconds}", headers={"Retry-After": seconds})
    link = link_for_code(request.app[STORE].db, request.match_info["code"])
    if link is None:
        guesses.missed(address)
    raise web.HTTPFound(link or "/f/")


def qr_svg(text: str) -> bytes:
    """A QR code of `text` as an SVG image."""
    svg = io.BytesIO()
    segno.make(text, error="m").save(
        svg, kind="svg", scale=6, border=2, title="QR code of the family link"
    )
    return svg.getvalue()


def add_routes(app: web.Application) -> None:
    app[CODE_GUESSES] = GuessThrottle()
    app.router.add_get("/j/{code}", follow_code)
