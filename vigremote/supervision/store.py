"""Who supervises whom, what a trainee shared with them, and the comments on it (durable).

- A trainee has at most one supervisor at a time; a new link ends the old one, and the history
  stays (`links`). Peer-supervision groups are named sets of trainees.
- A share is one item (a clip, a still or a recorded shared review) that a trainee shows to
  their supervisor, or to a peer group. Withdrawing it keeps the row, marked (the audit refers
  to it). Whether anyone may see it *now* is decided elsewhere (supervision/access.py): the
  family's current consent and the current links.
- A comment is about one frame of a shared item, tagged, sealed with the case's key (it can
  describe the family), editable by its author only.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from vigremote.storage import NotFound, Store, User, new_id
from vigremote.vault.keyring import Keyring

KINDS = ("clip", "still", "recording")
TAGS = ("strength", "question", "next-step", "note")
SUPERVISOR = "supervisor"  # a share's audience: the trainee's supervisor, or "group:<id>"

SCHEMA = """
CREATE TABLE IF NOT EXISTS supervision_links (
    id TEXT PRIMARY KEY,
    trainee_id TEXT NOT NULL,
    supervisor_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    made_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_members (
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE TABLE IF NOT EXISTS shares (
    id TEXT PRIMARY KEY,
    trainee_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    created_at REAL NOT NULL,
    withdrawn_at REAL
);
CREATE TABLE IF NOT EXISTS share_comments (
    id TEXT PRIMARY KEY,
    share_id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    frame INTEGER NOT NULL,
    tag TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    edited_at REAL
);
"""


@dataclass(frozen=True)
class Link:
    id: str
    trainee_id: str
    supervisor_id: str
    started_at: float
    ended_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trainee_id": self.trainee_id,
            "supervisor_id": self.supervisor_id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


@dataclass(frozen=True)
class Share:
    id: str
    trainee_id: str
    case_id: str
    kind: str
    item_id: str
    audience: str
    created_at: float
    withdrawn_at: float | None

    @property
    def group_id(self) -> str | None:
        return self.audience.removeprefix("group:") if self.audience.startswith("group:") else None


@dataclass(frozen=True)
class Comment:
    id: str
    share_id: str
    author_id: str
    frame: int
    tag: str
    text: str
    created_at: float
    edited_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "author_id": self.author_id,
            "frame": self.frame,
            "tag": self.tag,
            "text": self.text,
            "created_at": self.created_at,
            "edited_at": self.edited_at,
        }


def account_with_role(store: Store, username: object, role: str) -> User:
    """The account called `username`, if it has this role; ValueError saying so otherwise."""
    found = store.user_by_name(username) if isinstance(username, str) else None
    if found is None or found.role != role:
        raise ValueError(f"{username!r} is not a {role}'s username")
    return found


class SupervisionStore:
    def __init__(self, db: sqlite3.Connection, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring
        self._db.executescript(SCHEMA)

    # -- links and groups -----------------------------------------------------------------
    def link(self, trainee_id: str, supervisor_id: str, made_by: str) -> Link:
        """`supervisor_id` now supervises the trainee; the trainee's previous link ends."""
        now = time.time()
        link = Link(new_id(), trainee_id, supervisor_id, now, None)
        with self._db:
            self._db.execute(
                "UPDATE supervision_links SET ended_at = ?"
                " WHERE trainee_id = ? AND ended_at IS NULL",
                (now, trainee_id),
            )
            self._db.execute(
                "INSERT INTO supervision_links VALUES (?, ?, ?, ?, NULL, ?)",
                (link.id, trainee_id, supervisor_id, now, made_by),
            )
        return link

    def supervisor_of(self, trainee_id: str) -> str | None:
        row = self._db.execute(
            "SELECT supervisor_id FROM supervision_links WHERE trainee_id = ? AND ended_at IS NULL",
            (trainee_id,),
        ).fetchone()
        return str(row["supervisor_id"]) if row else None

    def trainees_of(self, supervisor_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT trainee_id FROM supervision_links"
            " WHERE supervisor_id = ? AND ended_at IS NULL ORDER BY started_at",
            (supervisor_id,),
        ).fetchall()
        return [str(r["trainee_id"]) for r in rows]

    def links(self) -> list[Link]:
        rows = self._db.execute("SELECT * FROM supervision_links ORDER BY started_at").fetchall()
        return [
            Link(r["id"], r["trainee_id"], r["supervisor_id"], r["started_at"], r["ended_at"])
            for r in rows
        ]

    def add_group(self, name: str, member_ids: list[str]) -> str:
        group_id = new_id()
        with self._db:
            self._db.execute(
                "INSERT INTO peer_groups VALUES (?, ?, ?)", (group_id, name, time.time())
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO peer_members VALUES (?, ?)",
                [(group_id, m) for m in member_ids],
            )
        return group_id

    def groups_of(self, user_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT g.id, g.name FROM peer_groups g JOIN peer_members m ON m.group_id = g.id"
            " WHERE m.user_id = ? ORDER BY g.name",
            (user_id,),
        ).fetchall()
        return [{"id": r["id"], "name": r["name"]} for r in rows]

    def group_members(self, group_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT user_id FROM peer_members WHERE group_id = ?", (group_id,)
        ).fetchall()
        return [str(r["user_id"]) for r in rows]

    # -- shares ---------------------------------------------------------------------------
    def share(self, trainee_id: str, case_id: str, kind: str, item_id: str, audience: str) -> Share:
        """Share an item (an existing, not withdrawn share of the same item is returned)."""
        row = self._db.execute(
            "SELECT * FROM shares WHERE trainee_id = ? AND kind = ? AND item_id = ?"
            " AND audience = ? AND withdrawn_at IS NULL",
            (trainee_id, kind, item_id, audience),
        ).fetchone()
        if row is not None:
            return _share(row)
        share = Share(new_id(), trainee_id, case_id, kind, item_id, audience, time.time(), None)
        with self._db:
            self._db.execute(
                "INSERT INTO shares VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (share.id, trainee_id, case_id, kind, item_id, audience, share.created_at),
            )
        return share

    def get_share(self, share_id: str) -> Share:
        row = self._db.execute("SELECT * FROM shares WHERE id = ?", (share_id,)).fetchone()
        if row is None:
            raise NotFound("no such share")
        return _share(row)

    def shares(self, trainee_ids: list[str] | None = None) -> list[Share]:
        """Shares not withdrawn (of these trainees), oldest first."""
        found = [s for s in self.of_case(None) if s.withdrawn_at is None]
        return [s for s in found if trainee_ids is None or s.trainee_id in trainee_ids]

    def of_case(self, case_id: str | None) -> list[Share]:
        """Every share of a family's material, withdrawn ones too (None: of every family)."""
        rows = self._db.execute(
            "SELECT * FROM shares WHERE ? IS NULL OR case_id = ? ORDER BY created_at",
            (case_id, case_id),
        ).fetchall()
        return [_share(r) for r in rows]

    def withdraw(self, share_id: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE shares SET withdrawn_at = ? WHERE id = ? AND withdrawn_at IS NULL",
                (time.time(), share_id),
            )

    # -- comments -------------------------------------------------------------------------
    def add_comment(self, share: Share, author_id: str, frame: int, tag: str, text: str) -> Comment:
        comment = Comment(new_id(), share.id, author_id, frame, tag, text, time.time(), None)
        sealed = self._keyring.seal_text(share.case_id, text)
        with self._db:
            self._db.execute(
                "INSERT INTO share_comments VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (comment.id, share.id, author_id, frame, tag, sealed, comment.created_at),
            )
        return comment

    def comment(self, comment_id: str) -> Comment:
        row = self._db.execute(
            "SELECT * FROM share_comments WHERE id = ?", (comment_id,)
        ).fetchone()
        if row is None:
            raise NotFound("no such comment")
        return self._comment(row)

    def comments(self, share_id: str) -> list[Comment]:
        rows = self._db.execute(
            "SELECT * FROM share_comments WHERE share_id = ? ORDER BY frame, created_at",
            (share_id,),
        ).fetchall()
        return [self._comment(r) for r in rows]

    def edit_comment(self, comment: Comment, case_id: str, tag: str, text: str) -> Comment:
        sealed = self._keyring.seal_text(case_id, text)
        now = time.time()
        with self._db:
            self._db.execute(
                "UPDATE share_comments SET tag = ?, text = ?, edited_at = ? WHERE id = ?",
                (tag, sealed, now, comment.id),
            )
        return self.comment(comment.id)

    def _comment(self, row: sqlite3.Row) -> Comment:
        return Comment(
            row["id"],
            row["share_id"],
            row["author_id"],
            row["frame"],
            row["tag"],
            self._keyring.open_text(row["text"]),
            row["created_at"],
            row["edited_at"],
        )


def _share(row: sqlite3.Row) -> Share:
    return Share(
        row["id"],
        row["trainee_id"],
        row["case_id"],
        row["kind"],
        row["item_id"],
        row["audience"],
        row["created_at"],
        row["withdrawn_at"],
    )
