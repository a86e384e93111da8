"""Durable records in SQLite under the data folder: users, cases, sessions, logins and audit.

Every id is generated here (random, URL-safe); nothing stored is keyed by user-chosen strings
except usernames. Calls are short and synchronous: SQLite in WAL mode answers in microseconds,
and the media path never touches the store.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigremote.audit import AuditTrail
from vigremote.vault.keyring import Keyring

ROLES_WITH_ACCOUNTS = ("practitioner", "supervisor", "admin")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    label TEXT NOT NULL,
    created_at REAL NOT NULL,
    closed_at REAL,
    legal_hold TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL,
    family_link_id TEXT
);
CREATE TABLE IF NOT EXISTS logins (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


def checkpoint(db: sqlite3.Connection) -> None:
    """Copy the write-ahead log into the database and empty it: what was deleted (with
    secure_delete on) then lies nowhere on disk, neither in the log nor in free pages."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def new_id() -> str:
    """A random id that is safe in URLs and file names (never derived from input)."""
    return secrets.token_urlsafe(12)


class NotFound(Exception):
    """The record does not exist (or the asker may not know it exists)."""


class Conflict(Exception):
    """The record would clash with an existing one."""


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class Case:
    id: str
    owner_id: str
    label: str
    created_at: float
    # When the practitioner closed the work with this family (retention counts from it).
    closed_at: float | None = None
    # A legal hold (court): {"reason", "by", "at"}; while set, nothing of the case is deleted.
    legal_hold: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "legal_hold": self.legal_hold,
        }


@dataclass(frozen=True)
class Session:
    id: str
    case_id: str
    kind: str
    status: str
    created_at: float
    ended_at: float | None
    # The id of the family link in force: issuing a new link revokes every older one.
    family_link_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "ended_at": self.ended_at,
        }


@dataclass(frozen=True)
class Login:
    id: str
    user: User
    csrf: str
    expires_at: float


class Store:
    """The one way the rest of vigremote reads and writes durable records."""

    def __init__(
        self, path: Path, audit_key: bytes | None = None, master_key: bytes | None = None
    ) -> None:
        """`audit_key` seals the audit trail (see audit.py); without it, the chain alone.
        `master_key` opens the case keys that seal case labels (vault/keyring.py); a store
        opened without it (a tool that only manages accounts) cannot make or read cases."""
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db = self._db  # shared with the domain stores (consent, recording)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        # Deleted records are overwritten, not only unlinked: erasure leaves nothing to find.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(SCHEMA)
        self._add_missing_columns()
        self._audit = AuditTrail(self._db, audit_key)
        self._keyring = Keyring(self._db, master_key) if master_key is not None else None
        path.chmod(0o600)

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            raise RuntimeError("this store was opened without the master key")
        return self._keyring

    def _add_missing_columns(self) -> None:
        """Data folders made by an earlier version lack newer columns: add them."""
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(sessions)")}
        if "family_link_id" not in columns:
            self._db.execute("ALTER TABLE sessions ADD COLUMN family_link_id TEXT")

    def close(self) -> None:
        self._db.close()

    def log_audit_head(self) -> None:
        self._audit.log_head()

    # users ---------------------------------------------------------------------------------
    def add_user(self, username: str, display_name: str, role: str, password_hash: str) -> User:
        if role not in ROLES_WITH_ACCOUNTS:
            raise ValueError(f"role must be one of {', '.join(ROLES_WITH_ACCOUNTS)}")
        user = User(new_id(), username, display_name, role, password_hash)
        try:
            self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                (user.id, username, display_name, role, password_hash, time.time()),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"user {username!r} already exists") from exc
        return user

    def user_by_name(self, username: str) -> User | None:
        row = self._db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return _user(row) if row else None

    def user(self, user_id: str) -> User:
        row = self._db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise NotFound("no such user")
        return _user(row)

    def users(self) -> list[User]:
        rows = self._db.execute("SELECT * FROM users ORDER BY username").fetchall()
        return [_user(r) for r in rows]

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
        )

    # logins --------------------------------------------------------------------------------
    def add_login(self, login_id: str, user_id: str, csrf: str, expires_at: float) -> None:
        self._db.execute(
            "INSERT INTO logins VALUES (?, ?, ?, ?)", (login_id, user_id, csrf, expires_at)
        )

    def login(self, login_id: str) -> Login | None:
        row = self._db.execute(
            "SELECT * FROM logins WHERE id = ? AND expires_at > ?", (login_id, time.time())
        ).fetchone()
        if row is None:
            return None
        return Login(row["id"], self.user(row["user_id"]), row["csrf"], row["expires_at"])

    def delete_login(self, login_id: str) -> None:
        self._db.execute("DELETE FROM logins WHERE id = ?", (login_id,))

    # cases and sessions --------------------------------------------------------------------
    def add_case(self, owner_id: str, label: str) -> Case:
        """A new case; its key is made now, and its label is kept sealed with it."""
        case = Case(new_id(), owner_id, label, time.time())
        sealed = self.keyring.seal_text(case.id, label)
        self._db.execute(
            "INSERT INTO cases (id, owner_id, label, created_at) VALUES (?, ?, ?, ?)",
            (case.id, owner_id, sealed, case.created_at),
        )
        return case

    def all_cases(self) -> list[Case]:
        rows = self._db.execute("SELECT * FROM cases ORDER BY created_at").fetchall()
        return [self._case(r) for r in rows]

    def set_case_closed(self, case_id: str, closed_at: float | None) -> Case:
        """Close the case (retention counts from `closed_at`), or reopen it (None)."""
        self._db.execute("UPDATE cases SET closed_at = ? WHERE id = ?", (closed_at, case_id))
        return self.case(case_id)

    def set_legal_hold(self, case_id: str, hold: dict[str, Any] | None) -> Case:
        """Place a legal hold (its reason sealed with the case's key), or lift it (None)."""
        stored = None if hold is None else self.keyring.seal_text(case_id, json.dumps(hold))
        self._db.execute("UPDATE cases SET legal_hold = ? WHERE id = ?", (stored, case_id))
        return self.case(case_id)

    def case(self, case_id: str) -> Case:
        row = self._db.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise NotFound("no such case")
        return self._case(row)

    def cases_of(self, owner_id: str) -> list[Case]:
        rows = self._db.execute(
            "SELECT * FROM cases WHERE owner_id = ? ORDER BY created_at DESC", (owner_id,)
        ).fetchall()
        return [self._case(r) for r in rows]

    def _case(self, row: sqlite3.Row) -> Case:
        label = self.keyring.open_text(row["label"])
        hold = json.loads(self.keyring.open_text(row["legal_hold"])) if row["legal_hold"] else None
        return Case(row["id"], row["owner_id"], label, row["created_at"], row["closed_at"], hold)

    def add_session(self, case_id: str, kind: str = "filming") -> Session:
        session = Session(new_id(), case_id, kind, "open", time.time(), None)
        self._db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, NULL, NULL)",
            (session.id, case_id, kind, "open", session.created_at),
        )
        return session

    def session(self, session_id: str) -> Session:
        row = self._db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotFound("no such session")
        return _session(row)

    def sessions_of(self, case_id: str) -> list[Session]:
        rows = self._db.execute(
            "SELECT * FROM sessions WHERE case_id = ? ORDER BY created_at DESC", (case_id,)
        ).fetchall()
        return [_session(r) for r in rows]

    def set_family_link(self, session_id: str, link_id: str) -> None:
        """Make `link_id` the only family link of this session that works."""
        self._db.execute(
            "UPDATE sessions SET family_link_id = ? WHERE id = ?", (link_id, session_id)
        )

    def end_session(self, session_id: str) -> Session:
        self._db.execute(
            "UPDATE sessions SET status = 'ended', ended_at = ? WHERE id = ? AND status = 'open'",
            (time.time(), session_id),
        )
        return self.session(session_id)

    # audit ---------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, obj: str, **detail: Any) -> None:
        """Append to the audit trail: who did what to which record (hash-chained)."""
        self._audit.append(actor, action, obj, detail)

    def prune_audit(self, before: float) -> int:
        """Drop audit entries older than `before` (retention); the chain stays checkable."""
        return self._audit.prune(before)

    def audit_trail(self, obj: str | None = None) -> list[dict[str, Any]]:
        query: str = "SELECT * FROM audit"
        args: tuple[str, ...] = ()
        if obj is not None:
            query, args = query + " WHERE object = ?", (obj,)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [
            {
                "at": r["at"],
                "actor": r["actor"],
                "action": r["action"],
                "object": r["object"],
                "detail": json.loads(r["detail"]),
            }
            for r in rows
        ]


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["username"], row["display_name"], row["role"], row["password_hash"])


def _session(row: sqlite3.Row) -> Session:
    return Session(
        row["id"],
        row["case_id"],
        row["kind"],
        row["status"],
        row["created_at"],
        row["ended_at"],
        row["family_link_id"],
    )
