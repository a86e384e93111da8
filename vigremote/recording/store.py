"""Recordings, their segment files and timeline marks, in the data folder's SQLite database."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from vigremote.storage import NotFound, new_id
from vigremote.vault.keyring import Keyring

SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    session_id TEXT NOT NULL REFERENCES sessions(id),
    consent_id TEXT NOT NULL,
    purposes TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    duration_s REAL NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE TABLE IF NOT EXISTS recording_segments (
    recording_id TEXT NOT NULL REFERENCES recordings(id),
    seq INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    codec TEXT NOT NULL,
    PRIMARY KEY (recording_id, seq)
);
CREATE TABLE IF NOT EXISTS recording_marks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recording_id TEXT NOT NULL REFERENCES recordings(id),
    t_s REAL NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

# "recording" and "paused" are live states; a server that starts and finds them was killed.
LIVE_STATUSES = ("recording", "paused")
MARK_KINDS = ("bookmark", "pause", "resume", "gap-start", "gap-end", "error", "review", "chapter")


@dataclass(frozen=True)
class Recording:
    id: str
    case_id: str
    session_id: str
    consent_id: str
    purposes: list[str]
    status: str
    started_at: float
    ended_at: float | None
    duration_s: float
    size_bytes: int
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "session_id": self.session_id,
            "purposes": self.purposes,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": round(self.duration_s, 3),
            "size_bytes": self.size_bytes,
            "error": self.error,
        }


class RecordingStore:
    def __init__(self, db: sqlite3.Connection, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring  # mark notes (bookmarks) are sealed with the case's key
        self._db.executescript(SCHEMA)

    def add(self, case_id: str, session_id: str, consent_id: str, purposes: list[str]) -> Recording:
        rec_id = new_id()
        self._db.execute(
            "INSERT INTO recordings (id, case_id, session_id, consent_id, purposes, status,"
            " started_at) VALUES (?, ?, ?, ?, ?, 'recording', ?)",
            (rec_id, case_id, session_id, consent_id, json.dumps(purposes), time.time()),
        )
        return self.get(rec_id)

    def get(self, recording_id: str) -> Recording:
        row = self._db.execute("SELECT * FROM recordings WHERE id = ?", (recording_id,)).fetchone()
        if row is None:
            raise NotFound("no such recording")
        return _recording(row)

    def of_case(self, case_id: str) -> list[Recording]:
        rows = self._db.execute(
            "SELECT * FROM recordings WHERE case_id = ? ORDER BY started_at DESC", (case_id,)
        ).fetchall()
        return [_recording(r) for r in rows]

    def of_session(self, session_id: str) -> list[Recording]:
        rows = self._db.execute(
            "SELECT * FROM recordings WHERE session_id = ? ORDER BY started_at", (session_id,)
        ).fetchall()
        return [_recording(r) for r in rows]

    def set_status(self, recording_id: str, status: str, error: str | None = None) -> None:
        ended = time.time() if status not in LIVE_STATUSES else None
        self._db.execute(
            "UPDATE recordings SET status = ?, ended_at = COALESCE(?, ended_at),"
            " error = COALESCE(?, error) WHERE id = ?",
            (status, ended, error, recording_id),
        )

    def reopen(self, recording_id: str, status: str) -> None:
        """Live again (another process carries on a recording a dead one was making)."""
        if status not in LIVE_STATUSES:
            raise ValueError("a recording reopens as recording or paused")
        self._db.execute(
            "UPDATE recordings SET status = ?, ended_at = NULL, error = NULL WHERE id = ?",
            (status, recording_id),
        )

    def pauses(self, recording_id: str) -> tuple[float, float | None]:
        """Wall-clock seconds the recording spent paused, and since when (Unix time) it is
        paused now, if it is: read from its pause and resume marks' creation times."""
        rows = self._db.execute(
            "SELECT kind, created_at FROM recording_marks WHERE recording_id = ?"
            " AND kind IN ('pause', 'resume') ORDER BY created_at, id",
            (recording_id,),
        ).fetchall()
        total, since = 0.0, None
        for row in rows:
            if row["kind"] == "pause" and since is None:
                since = row["created_at"]
            elif row["kind"] == "resume" and since is not None:
                total, since = total + row["created_at"] - since, None
        return total, since

    def set_progress(self, recording_id: str, duration_s: float, size_bytes: int) -> None:
        self._db.execute(
            "UPDATE recordings SET duration_s = ?, size_bytes = ? WHERE id = ?",
            (duration_s, size_bytes, recording_id),
        )

    def expire(self, recording_id: str) -> None:
        """Its files were deleted by retention; the record stays for the clips cut from it."""
        self._db.execute(
            "UPDATE recordings SET status = 'expired', size_bytes = 0 WHERE id = ?",
            (recording_id,),
        )

    def in_progress(self) -> list[Recording]:
        rows = self._db.execute(
            "SELECT * FROM recordings WHERE status IN (?, ?)", LIVE_STATUSES
        ).fetchall()
        return [_recording(r) for r in rows]

    def mark_interrupted(self, keep: Collection[str] = ()) -> list[str]:
        """At start-up: recordings left live by a crash become 'interrupted' (and stay usable);
        `keep`: those another live process is still recording."""
        ids = [r.id for r in self.in_progress() if r.id not in keep]
        for rec_id in ids:
            self.set_status(rec_id, "interrupted", "the server stopped during the recording")
        return ids

    def delete(self, recording_id: str) -> None:
        """The recording's rows: its marks, its segment list and itself."""
        for table, column in (
            ("recording_marks", "recording_id"),
            ("recording_segments", "recording_id"),
            ("recordings", "id"),
        ):
            self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (recording_id,))

    def add_segment(self, recording_id: str, seq: int, file_name: str, codec: str) -> None:
        self._db.execute(
            "INSERT INTO recording_segments VALUES (?, ?, ?, ?)",
            (recording_id, seq, file_name, codec),
        )

    def segments(self, recording_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT file_name FROM recording_segments WHERE recording_id = ? ORDER BY seq",
            (recording_id,),
        ).fetchall()
        return [r["file_name"] for r in rows]

    def add_mark(self, recording_id: str, t_s: float, kind: str, note: str, by: str) -> None:
        if kind not in MARK_KINDS:
            raise ValueError(f"unknown mark kind {kind!r}")
        case_id = self.get(recording_id).case_id
        self._db.execute(
            "INSERT INTO recording_marks (recording_id, t_s, kind, note, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (recording_id, t_s, kind, self._keyring.seal_text(case_id, note), by, time.time()),
        )

    def marks(self, recording_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM recording_marks WHERE recording_id = ?"
        args: tuple[str, ...] = (recording_id,)
        if kind is not None:
            query, args = query + " AND kind = ?", (recording_id, kind)
        rows = self._db.execute(query + " ORDER BY t_s, id", args).fetchall()
        return [
            {"t_s": r["t_s"], "kind": r["kind"], "note": self._keyring.open_text(r["note"])}
            for r in rows
        ]


def _recording(row: sqlite3.Row) -> Recording:
    return Recording(
        id=row["id"],
        case_id=row["case_id"],
        session_id=row["session_id"],
        consent_id=row["consent_id"],
        purposes=json.loads(row["purposes"]),
        status=row["status"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        duration_s=row["duration_s"],
        size_bytes=row["size_bytes"],
        error=row["error"],
    )
