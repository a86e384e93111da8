"""A shared review's playlist: the clips and stills the practitioner chose, in order."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS review_items (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (session_id, position)
);
"""
ITEM_KINDS = ("clip", "still")


@dataclass(frozen=True)
class PlaylistItem:
    kind: str  # "clip" or "still"
    ref_id: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.ref_id}


class ReviewStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(SCHEMA)

    def set_playlist(self, session_id: str, items: list[PlaylistItem]) -> None:
        self._db.execute("DELETE FROM review_items WHERE session_id = ?", (session_id,))
        for position, item in enumerate(items):
            if item.kind not in ITEM_KINDS:
                raise ValueError(f"unknown playlist item kind {item.kind!r}")
            self._db.execute(
                "INSERT INTO review_items VALUES (?, ?, ?, ?)",
                (session_id, position, item.kind, item.ref_id),
            )

    def remove_items(self, items: list[PlaylistItem]) -> None:
        """Take deleted clips or stills out of every playlist (the order of the rest is kept)."""
        for item in items:
            self._db.execute(
                "DELETE FROM review_items WHERE kind = ? AND ref_id = ?", (item.kind, item.ref_id)
            )

    def playlist(self, session_id: str) -> list[PlaylistItem]:
        rows = self._db.execute(
            "SELECT kind, ref_id FROM review_items WHERE session_id = ? ORDER BY position",
            (session_id,),
        ).fetchall()
        return [PlaylistItem(r["kind"], r["ref_id"]) for r in rows]
