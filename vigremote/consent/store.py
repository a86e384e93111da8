"""Consent records: what a family agreed to, purpose by purpose, and with which wording.

One consent per family (case): the newest record is what holds now, for every recording,
clip and still of the case, whichever session it was given in. Each change of mind is a new
row, so the history of what was agreed, when, and how (in the call, on the family's link after
the call, or by phone or letter as recorded by the practitioner) is kept.

The wording lives in data (vigremote/data/consent-wording.json, versioned) so an organisation
can change it without touching code; every record keeps which version the family saw.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from vigremote.storage import new_id

PURPOSES = ("analysis", "shared_review", "supervision", "training")
# How a consent reached the service: the family themselves, or a practitioner writing down a
# withdrawal the family made another way.
FAMILY_CHANNELS = ("in-call", "family-link")
PRACTITIONER_CHANNELS = ("phone", "letter", "email", "in-person")

SCHEMA = """
CREATE TABLE IF NOT EXISTS case_consents (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    session_id TEXT REFERENCES sessions(id),
    purposes TEXT NOT NULL,
    wording_version TEXT NOT NULL,
    given_by TEXT NOT NULL,
    how TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    given_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS case_consents_by_case ON case_consents (case_id, given_at);
"""


def load_wording() -> dict[str, Any]:
    text = resources.files("vigremote").joinpath("data/consent-wording.json").read_text("utf-8")
    wording: dict[str, Any] = json.loads(text)
    return wording


def wording_for(wording: dict[str, Any], session_kind: str) -> dict[str, Any]:
    """The wording with the intro and the purpose that records this kind of session."""
    kinds: dict[str, Any] = wording.get("sessions", {})
    specific = kinds.get(session_kind, kinds.get("filming", {}))
    out = {k: v for k, v in wording.items() if k != "sessions"}
    out.update(specific)
    return out


@dataclass(frozen=True)
class Consent:
    id: str
    case_id: str
    session_id: str | None
    purposes: list[str]
    wording_version: str
    given_by: str
    how: str
    note: str
    given_at: float

    def allows(self, purpose: str) -> bool:
        return purpose in self.purposes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "purposes": self.purposes,
            "wording_version": self.wording_version,
            "given_by": self.given_by,
            "how": self.how,
            "given_at": self.given_at,
        }


class ConsentStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(SCHEMA)
        self._migrate_per_session_rows()

    def _migrate_per_session_rows(self) -> None:
        """Data folders from before per-case consent kept one table per session: carry it over."""
        old = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'consents'"
        ).fetchone()
        if old is None:
            return
        self._db.execute(
            "INSERT OR IGNORE INTO case_consents"
            " SELECT id, case_id, session_id, purposes, wording_version, given_by, 'in-call', '',"
            " given_at FROM consents"
        )
        self._db.execute("DROP TABLE consents")

    def record(
        self,
        case_id: str,
        purposes: list[str],
        version: str,
        given_by: str,
        *,
        session_id: str | None = None,
        how: str = "in-call",
        note: str = "",
    ) -> Consent:
        if how not in FAMILY_CHANNELS + PRACTITIONER_CHANNELS:
            raise ValueError(f"unknown consent channel {how!r}")
        consent = Consent(
            new_id(),
            case_id,
            session_id,
            [p for p in PURPOSES if p in purposes],
            version,
            given_by,
            how,
            note,
            time.time(),
        )
        self._db.execute(
            "INSERT INTO case_consents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                consent.id,
                case_id,
                session_id,
                json.dumps(consent.purposes),
                version,
                given_by,
                how,
                note,
                consent.given_at,
            ),
        )
        return consent

    def current(self, case_id: str) -> Consent | None:
        """What the family agreed to most recently (None: never asked yet)."""
        row = self._db.execute(
            "SELECT * FROM case_consents WHERE case_id = ? ORDER BY given_at DESC, rowid DESC",
            (case_id,),
        ).fetchone()
        return _consent(row) if row else None

    def confirmed_in(self, session_id: str) -> bool:
        """Whether the family itself answered the consent question during this session."""
        row = self._db.execute(
            "SELECT 1 FROM case_consents WHERE session_id = ? AND how = 'in-call'", (session_id,)
        ).fetchone()
        return row is not None

    def history(self, case_id: str) -> list[Consent]:
        rows = self._db.execute(
            "SELECT * FROM case_consents WHERE case_id = ? ORDER BY given_at, rowid", (case_id,)
        ).fetchall()
        return [_consent(r) for r in rows]


def _consent(row: sqlite3.Row) -> Consent:
    return Consent(
        row["id"],
        row["case_id"],
        row["session_id"],
        json.loads(row["purposes"]),
        row["wording_version"],
        row["given_by"],
        row["how"],
        row["note"],
        row["given_at"],
    )
