"""Consent records: what the family agreed to, purpose by purpose, and with which wording.

The wording lives in data (vigremote/data/consent-wording.json, versioned) so an organisation
can change it without touching code; every consent records which version the family saw.
Each change of mind is a new row, so the history of what was agreed, and when, is kept.
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
RECORDING_PURPOSE = "analysis"

SCHEMA = """
CREATE TABLE IF NOT EXISTS consents (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    case_id TEXT NOT NULL REFERENCES cases(id),
    purposes TEXT NOT NULL,
    wording_version TEXT NOT NULL,
    given_by TEXT NOT NULL,
    given_at REAL NOT NULL
);
"""


def load_wording() -> dict[str, Any]:
    text = resources.files("vigremote").joinpath("data/consent-wording.json").read_text("utf-8")
    wording: dict[str, Any] = json.loads(text)
    return wording


@dataclass(frozen=True)
class Consent:
    id: str
    session_id: str
    case_id: str
    purposes: list[str]
    wording_version: str
    given_by: str
    given_at: float

    def allows(self, purpose: str) -> bool:
        return purpose in self.purposes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "purposes": self.purposes,
            "wording_version": self.wording_version,
            "given_by": self.given_by,
            "given_at": self.given_at,
        }


class ConsentStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(SCHEMA)

    def record(
        self, session_id: str, case_id: str, purposes: list[str], version: str, given_by: str
    ) -> Consent:
        consent = Consent(new_id(), session_id, case_id, purposes, version, given_by, time.time())
        self._db.execute(
            "INSERT INTO consents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                consent.id,
                session_id,
                case_id,
                json.dumps(purposes),
                version,
                given_by,
                consent.given_at,
            ),
        )
        return consent

    def current(self, session_id: str) -> Consent | None:
        """What the family agreed to most recently in this session (None: not asked yet)."""
        row = self._db.execute(
            "SELECT * FROM consents WHERE session_id = ? ORDER BY given_at DESC, rowid DESC",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        return Consent(
            row["id"],
            row["session_id"],
            row["case_id"],
            json.loads(row["purposes"]),
            row["wording_version"],
            row["given_by"],
            row["given_at"],
        )
