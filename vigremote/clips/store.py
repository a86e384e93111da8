"""Clips, stills and the organisation's tag vocabulary, in the data folder's SQLite database."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from vigremote.storage import NotFound, new_id
from vigremote.vault.keyring import Keyring

# The principles of attuned interaction and guidance (VIG), from the foundations up: the
# default vocabulary practitioners tag moments with. An admin can change it.
DEFAULT_TAGS = (
    "Being attentive",
    "Encouraging initiatives",
    "Receiving initiatives",
    "Developing attuned interactions",
    "Guiding",
    "Deepening discussion",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    recording_id TEXT NOT NULL REFERENCES recordings(id),
    title TEXT NOT NULL,
    tags TEXT NOT NULL,
    notes TEXT NOT NULL,
    first_frame INTEGER NOT NULL,
    last_frame INTEGER NOT NULL,
    start_s REAL NOT NULL,
    duration_s REAL NOT NULL,
    position INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stills (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    recording_id TEXT NOT NULL REFERENCES recordings(id),
    frame INTEGER NOT NULL,
    time_s REAL NOT NULL,
    caption TEXT NOT NULL,
    file_name TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Clip:
    id: str
    case_id: str
    recording_id: str
    title: str
    tags: list[str]
    notes: str
    first_frame: int
    last_frame: int
    start_s: float
    duration_s: float
    position: int
    file_name: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "recording_id": self.recording_id,
            "title": self.title,
            "tags": self.tags,
            "notes": self.notes,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.last_frame - self.first_frame + 1,
            "start_s": round(self.start_s, 3),
            "duration_s": round(self.duration_s, 3),
            "position": self.position,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Still:
    id: str
    case_id: str
    recording_id: str
    frame: int
    time_s: float
    caption: str
    file_name: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "recording_id": self.recording_id,
            "frame": self.frame,
            "time_s": round(self.time_s, 3),
            "caption": self.caption,
            "created_at": self.created_at,
        }


class ClipStore:
    def __init__(self, db: sqlite3.Connection, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring  # titles, notes and captions are sealed with the case's key
        self._db.executescript(SCHEMA)
        if self._db.execute("SELECT COUNT(*) FROM tags").fetchone()[0] == 0:
            self.set_tags(list(DEFAULT_TAGS))

    # clips -------------------------------------------------------------------------------
    def add_clip(self, clip: dict[str, Any]) -> Clip:
        clip_id = clip.get("id") or new_id()
        position = self._db.execute(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM clips WHERE case_id = ?",
            (clip["case_id"],),
        ).fetchone()[0]
        self._db.execute(
            "INSERT INTO clips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                clip_id,
                clip["case_id"],
                clip["recording_id"],
                self._keyring.seal_text(clip["case_id"], clip["title"]),
                json.dumps(clip["tags"]),
                self._keyring.seal_text(clip["case_id"], clip["notes"]),
                clip["first_frame"],
                clip["last_frame"],
                clip["start_s"],
                clip["duration_s"],
                position,
                clip["file_name"],
                time.time(),
            ),
        )
        return self.clip(clip_id)

    def clip(self, clip_id: str) -> Clip:
        row = self._db.execute("SELECT * FROM clips WHERE id = ?", (clip_id,)).fetchone()
        if row is None:
            raise NotFound("no such clip")
        return self._clip(row)

    def clips_of(self, case_id: str) -> list[Clip]:
        rows = self._db.execute(
            "SELECT * FROM clips WHERE case_id = ? ORDER BY position, created_at", (case_id,)
        ).fetchall()
        return [self._clip(r) for r in rows]

    def update_clip(self, clip_id: str, **fields: Any) -> Clip:
        allowed = {"title", "tags", "notes", "first_frame", "last_frame", "start_s", "duration_s"}
        case_id = self.clip(clip_id).case_id
        for name, value in fields.items():
            if name not in allowed:
                raise ValueError(f"cannot change {name}")
            stored = (
                json.dumps(value)
                if name == "tags"
                else self._keyring.seal_text(case_id, value)
                if name in ("title", "notes")
                else value
            )
            self._db.execute(f"UPDATE clips SET {name} = ? WHERE id = ?", (stored, clip_id))
        return self.clip(clip_id)

    def move_clip(self, clip_id: str, position: int) -> list[Clip]:
        """Put a clip at `position` in its case's order; the others close up around it."""
        clip = self.clip(clip_id)
        order = [c.id for c in self.clips_of(clip.case_id) if c.id != clip_id]
        order.insert(max(0, min(position, len(order))), clip_id)
        for index, other in enumerate(order):
            self._db.execute("UPDATE clips SET position = ? WHERE id = ?", (index, other))
        return self.clips_of(clip.case_id)

    def delete_clip(self, clip_id: str) -> None:
        self._db.execute("DELETE FROM clips WHERE id = ?", (clip_id,))

    # stills ------------------------------------------------------------------------------
    def add_still(self, still: dict[str, Any]) -> Still:
        still_id = still.get("id") or new_id()
        self._db.execute(
            "INSERT INTO stills VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                still_id,
                still["case_id"],
                still["recording_id"],
                still["frame"],
                still["time_s"],
                self._keyring.seal_text(still["case_id"], still["caption"]),
                still["file_name"],
                time.time(),
            ),
        )
        return self.still(still_id)

    def still(self, still_id: str) -> Still:
        row = self._db.execute("SELECT * FROM stills WHERE id = ?", (still_id,)).fetchone()
        if row is None:
            raise NotFound("no such still")
        return self._still(row)

    def stills_of(self, case_id: str) -> list[Still]:
        rows = self._db.execute(
            "SELECT * FROM stills WHERE case_id = ? ORDER BY created_at", (case_id,)
        ).fetchall()
        return [self._still(r) for r in rows]

    def delete_still(self, still_id: str) -> None:
        self._db.execute("DELETE FROM stills WHERE id = ?", (still_id,))

    # tags --------------------------------------------------------------------------------
    def tags(self) -> list[str]:
        rows = self._db.execute("SELECT name FROM tags ORDER BY position").fetchall()
        return [r["name"] for r in rows]

    def set_tags(self, names: list[str]) -> list[str]:
        self._db.execute("DELETE FROM tags")
        for position, name in enumerate(names):
            self._db.execute("INSERT INTO tags VALUES (?, ?)", (name, position))
        return self.tags()

    def _clip(self, row: sqlite3.Row) -> Clip:
        values = {k: row[k] for k in row.keys()}
        values["tags"] = json.loads(values["tags"])
        values["title"] = self._keyring.open_text(values["title"])
        values["notes"] = self._keyring.open_text(values["notes"])
        return Clip(**values)

    def _still(self, row: sqlite3.Row) -> Still:
        values = {k: row[k] for k in row.keys()}
        values["caption"] = self._keyring.open_text(values["caption"])
        return Still(**values)
